// Connects `tsix instantiate` to the evaluator (evaluator-adapter.ts): builds an
// InstantiateEvaluator whose derivation and source primops come from this directory. The adapter
// is loaded lazily, so commands that never evaluate do not load the evaluator.
import { TsixError } from '../../store/errors.js';
import type { Store } from '../../store/store.js';
import type { InstantiateEvaluator } from './instantiate.js';
import type { InstantiationSession } from './session.js';

export interface GlueOptions {
  /** -I entries (NIX_PATH style: `prefix=path` or `path`). */
  includePaths: string[];
}

export interface InstantiateSession<V> extends InstantiateEvaluator<V> {
  evalFile(path: string): V;
  evalString(expr: string, baseDir: string): V;
  /** Values for --arg (a Nix expression) and --argstr (a string). */
  autoArgs(args: { name: string; value: string; isString: boolean }[]): Map<string, V>;
}

type GlueModule = { createInstantiateEvaluator(session: InstantiationSession, store: Store, opts: GlueOptions): Promise<InstantiateSession<unknown>> };

/** The evaluator adapted for instantiation (throws E_EVAL_MISSING if no evaluator is built). */
export async function createInstantiateEvaluator(session: InstantiationSession, store: Store, opts: GlueOptions): Promise<InstantiateSession<unknown>> {
  let mod: GlueModule;
  try {
    const path = './evaluator-adapter.js';
    mod = (await import(path)) as GlueModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new TsixError('E_EVAL_MISSING', 'tsix instantiate needs the evaluator (eval/), which is not part of this build yet');
    }
    throw err;
  }
  return mod.createInstantiateEvaluator(session, store, opts);
}
