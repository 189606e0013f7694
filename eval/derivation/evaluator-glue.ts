// Connects `tsix instantiate` to the evaluator (evaluator-adapter.ts): builds an
// InstantiateEvaluator whose derivation and source primops come from this directory. The adapter
// is loaded lazily, so commands that never evaluate do not load the evaluator.
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

/** The evaluator adapted for instantiation. */
export async function createInstantiateEvaluator(session: InstantiationSession, store: Store, opts: GlueOptions): Promise<InstantiateSession<unknown>> {
  const { createInstantiateEvaluator: create } = await import('./evaluator-adapter.js');
  return create(session, store, opts);
}
