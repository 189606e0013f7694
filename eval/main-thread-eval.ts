// `tsix eval` without a worker thread: most evaluations are small, and a worker's start-up (a new
// isolate, the modules loaded again) costs more than they do. The attempt is abandoned, leaving
// nothing on standard output, when it fails in any way (the worker then reproduces the error with its trace),
// needs the store (import from derivation is served to the worker only), overflows this thread's
// default stack, or uses more than a quarter of this thread's heap limit.
// The derivation support is loaded only when an evaluation needs it (see derivation/deferred.ts).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EvalArgs } from './cli.js';
import type { StoreAdapter } from './evaluator.js';
import { deferDerivations, NeedDerivations } from './derivation/deferred.js';
import { guardMainThreadAttempt, withHeadroom } from './main-thread-guard.js';
import { runEval } from './run-eval.js';

/**
 * Standard output is kept until the evaluation succeeds; what goes to standard error (traces,
 * warnings) goes to `err` at once, as Nix prints it, so that a long or endless evaluation shows its
 * traces. The evaluation is deterministic: if it runs again (here with the derivation support, or
 * in the worker), its first messages to standard error are these again, and are not shown twice
 * (here they are skipped; for the worker the caller skips as many as `err` got).
 */
export async function evalOnMainThread(args: EvalArgs, cwd: string, stdinText: string | null, err: (s: string) => void): Promise<{ code: number; output: string[] } | null> {
  // An evaluation that imports files may run long before it makes its first derivation, and a
  // second run from the start would then cost much: the support is loaded before it instead.
  let deferred = !mayImport(args, cwd, stdinText);
  let store: StoreAdapter = deferred ? deferDerivations() : await loadDerivations();
  let shown = 0;
  for (;;) {
    const output: string[] = [];
    let written = 0;
    const sink = withHeadroom((s) => { if (written++ >= shown) err(s); });
    const leave = guardMainThreadAttempt();
    try {
      const code = runEval(args, cwd, stdinText, { out: (s) => { output.push(s); }, err: sink }, store);
      return { code, output };
    } catch (e) {
      if (!(e instanceof NeedDerivations) || !deferred) return null;
    } finally {
      leave();
    }
    shown = Math.max(shown, written);
    store = await loadDerivations();
    deferred = false;
  }
}

/** The derivation support, as setupEvalWorker (ifd/eval-setup.ts) sets it up, without the worker bridge. */
async function loadDerivations(): Promise<StoreAdapter> {
  const { enableDerivationsForEval } = await import('./derivation/evaluator-adapter.js');
  return enableDerivationsForEval();
}

/** Whether the expression, the file evaluated or an --arg may import other files (a guess from their text). */
function mayImport(args: EvalArgs, cwd: string, stdinText: string | null): boolean {
  const texts = [args.expr ?? '', stdinText ?? '', ...args.args.filter((a) => !a.isString).map((a) => a.value)];
  const files = args.expr === null && !args.readStdin ? (args.files.length > 0 ? args.files : ['default.nix']) : [];
  for (const f of files) {
    try { texts.push(readFileSync(resolve(cwd, f), 'utf8')); } catch { return true; }
  }
  return texts.some((t) => /\b(import|scopedImport)\b|<[\w.+\-/]+>/.test(t));
}
