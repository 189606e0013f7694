// `tsix instantiate` and `tsix build` evaluate on the main thread first: a worker's start-up (a
// new isolate, the modules loaded again) cost ~150 ms here, more than most instantiations take.
// The attempt gives up, leaving nothing written, when it fails in any way (the worker then
// reproduces the error) or reaches the limits of main-thread-guard.ts.
import { InstantiationSession } from '../derivation/session.js';
import { guardMainThreadAttempt } from '../main-thread-guard.js';
import { setTraceSink } from '../trace.js';
import { evaluateJob, type InstantiateJob, type InstantiateWorkerResult } from './instantiate-job.js';

/**
 * The job's result, or null when the worker must do it. Traces are held back until the attempt
 * succeeds (`err` then gets them in order), so that a worker's run does not show them twice.
 */
export async function instantiateOnMainThread(job: InstantiateJob, err: (s: string) => void): Promise<Extract<InstantiateWorkerResult, { t: 'done' }> | null> {
  const session = new InstantiationSession();
  const traces: string[] = [];
  setTraceSink((s) => { traces.push(s); });
  const leave = guardMainThreadAttempt();
  try {
    const r = await evaluateJob(job, session);
    for (const s of traces) err(s);
    return r;
  } catch {
    session.dispose();
    return null;
  } finally {
    leave();
    setTraceSink(null);
  }
}
