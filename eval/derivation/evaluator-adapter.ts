// The evaluator behind `tsix instantiate`. STOPGAP: the project's evaluator (eval/) did not exist
// when this was written, so a compact private evaluator (./stopgap/) is used. To switch to the
// project's evaluator, only this file changes:
//  1. implement DrvHost<V> (primops.ts: attrs, forceBool, isNull, forceList, forceStringNoCtx,
//     forceString, coerceToString with coerceMore+copyToStore, toJSON as printValueAsJSON, mkString
//     with a context set, mkAttrs, isAttrs, isFunction, call, coerceToPath, showType) over its values;
//  2. register derivationPrimops(host, session) in its builtins (names with `__` are only under
//     `builtins.`), `derivation` as DERIVATION_NIX, and `<nix/fetchurl.nix>` from COREPKGS;
//  3. make path values coerced to strings call session.copyPathToStore (their context is the path);
//  4. return kind/autoCall/findAlongAttrPath/identity and evalFile/evalString/autoArgs below.
// String context elements are Nix 2.8's: `/nix/store/…` (plain), `=/nix/store/….drv` (drvPath),
// `!<output>!/nix/store/….drv` (an output).
import type { Store } from '../../store/store.js';
import type { GlueOptions, InstantiateSession } from './evaluator-glue.js';
import type { InstantiationSession } from './session.js';
import { StopgapEvaluator } from './stopgap/evaluator.js';
import { Thunk, type Lazy } from './stopgap/values.js';

function searchPath(includes: string[]): { prefix: string; path: string }[] {
  const entries = [...includes, ...(process.env.NIX_PATH ?? '').split(':').filter((x) => x !== '')];
  return entries.map((e) => {
    const eq = e.indexOf('=');
    return eq < 0 ? { prefix: '', path: e } : { prefix: e.slice(0, eq), path: e.slice(eq + 1) };
  });
}

export async function createInstantiateEvaluator(session: InstantiationSession, _store: Store, opts: GlueOptions): Promise<InstantiateSession<Lazy>> {
  const ev = new StopgapEvaluator(session, searchPath(opts.includePaths));
  const view = ev.instantiateView();
  return {
    ...view,
    evalFile: (path) => ev.evalFile(path),
    evalString: (expr, dir) => ev.evalString(expr, dir),
    autoArgs: (args) => new Map(args.map((a) => [a.name, a.isString ? a.value : new Thunk(() => ev.evalString(a.value, process.cwd()))])),
  };
}
