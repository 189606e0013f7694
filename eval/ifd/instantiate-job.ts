// What `tsix instantiate` and `tsix build` evaluate: the inputs as nix-instantiate's arguments,
// the derivations found in them, and everything to write to the store afterwards. Run by the
// main thread first (instantiate-main-thread.ts) and, when that attempt gives up, by the worker
// (instantiate-worker.ts); store reads are answered by whatever resolver the caller installed.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInstantiateEvaluator } from '../derivation/evaluator-glue.js';
import { getDerivations, type FoundDerivation } from '../derivation/instantiate.js';
import type { InstantiationSession } from '../derivation/session.js';
import type { Store } from '../../store/store.js';
import { detachSourcesFromMounts } from './detach-sources.js';

/** What to evaluate (as nix-instantiate's arguments). */
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

/** Evaluates `job` into `session`: the derivations found, and what the session holds to write. */
export async function evaluateJob(job: InstantiateJob, session: InstantiationSession): Promise<Extract<InstantiateWorkerResult, { t: 'done' }>> {
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
