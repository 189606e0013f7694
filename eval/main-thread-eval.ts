// `tsix eval` without a worker thread: most evaluations are small, and a worker's start-up (a new
// isolate, the modules loaded again) costs more than they do. The attempt is abandoned, leaving
// nothing on standard output, when it fails in any way (the worker then reproduces the error with its trace),
// needs the store (import from derivation is served to the worker only), overflows this thread's
// default stack, or uses more than a quarter of this thread's heap limit.
import type { EvalArgs } from './cli.js';
import { enableDerivationsForEval } from './derivation/evaluator-adapter.js';
import { guardMainThreadAttempt, withHeadroom } from './main-thread-guard.js';
import { runEval } from './run-eval.js';

/**
 * Standard output is kept until the evaluation succeeds; what goes to standard error (traces,
 * warnings) goes to `err` at once, as Nix prints it, so that a long or endless evaluation shows its
 * traces. The evaluation is deterministic: if the worker runs it again, its first messages to
 * standard error are these again (the caller skips as many as were written here).
 */
export function evalOnMainThread(args: EvalArgs, cwd: string, stdinText: string | null, err: (s: string) => void): { code: number; output: string[] } | null {
  const output: string[] = [];
  // As setupEvalWorker (ifd/eval-setup.ts), without the worker bridge.
  const store = enableDerivationsForEval();
  const leave = guardMainThreadAttempt();
  try {
    const code = runEval(args, cwd, stdinText, { out: (s) => { output.push(s); }, err: withHeadroom(err) }, store);
    return { code, output };
  } catch {
    return null;
  } finally {
    leave();
  }
}
