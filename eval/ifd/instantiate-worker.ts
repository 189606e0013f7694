// Worker thread of `tsix instantiate` and `tsix build`: evaluates the inputs, finds the
// derivations (getDerivations) and hands back their .drv paths and everything to write to the
// store. Store reads during evaluation go to the main thread (bridge.ts), so import-from-derivation
// works; the large stack lets deep Nix recursion run.
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInstantiateEvaluator } from '../derivation/evaluator-glue.js';
import { getDerivations, type FoundDerivation } from '../derivation/instantiate.js';
import { InstantiationSession } from '../derivation/session.js';
import type { Store } from '../../store/store.js';
import { TsixError } from '../../store/errors.js';
import { installWorkerBridge, type IfdWorkerEnd } from './bridge.js';
import { detachSourcesFromMounts } from './detach-sources.js';

/** What the main thread asks the worker to evaluate (as nix-instantiate's arguments). */
export interface InstantiateJob {
  files: string[];
  fromArgs: boolean;
  attrPaths: string[];
  args: { name: string; value: string; isString: boolean }[];
  includePaths: string[];
  cwd: string;
  /** The text of `-` (standard input), read by the main thread. */
  stdinText: string | null;
}

export type InstantiateWorkerResult =
  | { t: 'done'; found: FoundDerivation[]; pending: ReturnType<InstantiationSession['takePending']> }
  | { t: 'error'; message: string; code: string };

async function main(job: InstantiateJob, end: IfdWorkerEnd): Promise<InstantiateWorkerResult> {
  const session = new InstantiationSession();
  try {
    return await evaluate(job, end, session);
  } catch (e) {
    session.dispose();
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new TsixError('E_EVAL', 'stack overflow (possible infinite recursion)');
    throw e;
  }
}

async function evaluate(job: InstantiateJob, end: IfdWorkerEnd, session: InstantiationSession): Promise<InstantiateWorkerResult> {
  installWorkerBridge(end, () => session.takePending());
  // The store argument is not used by the evaluator (writes go through the session).
  const ev = await createInstantiateEvaluator(session, null as unknown as Store, { includePaths: job.includePaths });
  const autoArgs = ev.autoArgs(job.args);
  const found: FoundDerivation[] = [];
  for (const input of job.files) {
    const root = job.fromArgs ? ev.evalString(input, job.cwd)
      : input === '-' ? ev.evalString(job.stdinText ?? readFileSync(0, 'utf8'), job.cwd)
        : ev.evalFile(resolve(job.cwd, input));
    for (const attrPath of job.attrPaths) found.push(...getDerivations(ev, ev.findAlongAttrPath(root, attrPath, autoArgs), autoArgs));
  }
  return { t: 'done', found, pending: detachSourcesFromMounts(session.takePending()) };
}

const { job, ifd } = workerData as { job: InstantiateJob; ifd: IfdWorkerEnd };
main(job, ifd).then(
  (r) => parentPort!.postMessage(r),
  (e: unknown) => {
    const err = e as { message?: string; code?: unknown };
    parentPort!.postMessage({ t: 'error', message: err.message ?? String(e), code: typeof err.code === 'string' ? err.code : 'E_EVAL' } satisfies InstantiateWorkerResult);
  },
);
