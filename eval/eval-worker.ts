// Worker side of `tsix eval` (see cli.ts): evaluates and prints, sending output as messages so that
// trace lines, results and errors reach the terminal in order.
import { parentPort, workerData } from 'node:worker_threads';
import type { EvalArgs } from './cli.js';
import { runEval } from './run-eval.js';
import { setupEvalWorker } from './ifd/eval-setup.js';
import type { IfdWorkerEnd } from './ifd/bridge.js';

const { args, cwd, stdinText, ifd } = workerData as { args: EvalArgs; cwd: string; stdinText: string | null; ifd?: IfdWorkerEnd };
const post = (t: 'out' | 'err', s: string) => parentPort!.postMessage({ t, s });
try {
  const code = runEval(args, cwd, stdinText, { out: (s) => post('out', s), err: (s) => post('err', s) }, setupEvalWorker(ifd));
  parentPort!.postMessage({ t: 'done', code });
} catch (e) {
  const err = e as { message?: string; code?: string };
  parentPort!.postMessage({ t: 'done', error: { message: err.message ?? String(e), code: typeof err.code === 'string' ? err.code : 'E_EVAL' } });
}
