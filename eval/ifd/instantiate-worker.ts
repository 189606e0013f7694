// Worker thread of `tsix instantiate` and `tsix build`, for what the main thread's attempt gave
// up on: store reads during evaluation go to the main thread (bridge.ts), so import-from-
// derivation works; the large stack lets deep Nix recursion run.
import { parentPort, workerData } from 'node:worker_threads';
import { InstantiationSession } from '../derivation/session.js';
import { TsixError } from '../../store/errors.js';
import { installWorkerBridge, type IfdWorkerEnd } from './bridge.js';
import { evaluateJob, type InstantiateJob, type InstantiateWorkerResult } from './instantiate-job.js';

async function main(job: InstantiateJob, end: IfdWorkerEnd): Promise<InstantiateWorkerResult> {
  const session = new InstantiationSession();
  try {
    installWorkerBridge(end, () => session.takePending());
    return await evaluateJob(job, session);
  } catch (e) {
    session.dispose();
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new TsixError('E_EVAL', 'stack overflow (possible infinite recursion)');
    throw e;
  }
}

const { job, ifd } = workerData as { job: InstantiateJob; ifd: IfdWorkerEnd };
main(job, ifd).then(
  (r) => parentPort!.postMessage(r),
  (e: unknown) => {
    const err = e as { message?: string; code?: unknown };
    parentPort!.postMessage({ t: 'error', message: err.message ?? String(e), code: typeof err.code === 'string' ? err.code : 'E_EVAL' } satisfies InstantiateWorkerResult);
  },
);
