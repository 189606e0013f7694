// The evaluator behind `tsix instantiate`: the project's evaluator (eval/nix-evaluator.ts) with
// the derivation and source primops of this directory registered in its builtins, path values
// copied through the instantiation session, and the views instantiate.ts needs.
// String context elements are Nix 2.8's: `/nix/store/…` (plain), `=/nix/store/….drv` (drvPath),
// `!<output>!/nix/store/….drv` (an output).
import type { Store } from '../../store/store.js';
import { builtinEntries, missingForCall, registerBuiltin } from '../builtins/index.js';
import {
  type StoreAdapter, callN, coerceToPath, coerceToString, force, forceAttrs, forceBool, forceList, forceStringCtx, forceStringNoCtx,
} from '../evaluator.js';
import { NixEvaluator, parseSearchPath } from '../nix-evaluator.js';
import { NixEvalError } from '../errors.js';
import { printJSON } from '../print.js';
import { isFunction, mkString, NixAttrs, PrimOp, showType, Thunk, type Lazy, type Value } from '../values.js';
import type { GlueOptions, InstantiateSession } from './evaluator-glue.js';
import { derivationPrimops, type DrvHost } from './primops.js';
import { InstantiationSession } from './session.js';

/** DrvHost over the project's evaluator values. */
export const evalHost: DrvHost<Lazy> = {
  attrs: (v) => forceAttrs(v, null).map,
  forceBool: (v) => forceBool(v, null),
  isNull: (v) => force(v) === null,
  forceList: (v) => forceList(v, null),
  forceStringNoCtx: (v) => forceStringNoCtx(v, null),
  forceString: (v, ctx) => forceStringCtx(v, ctx, null),
  coerceToString: (v, ctx) => coerceToString(force(v), ctx, true, true, null),
  toJSON: (v, ctx) => { const out: string[] = []; printJSON(v, true, ctx, out); return out.join(''); },
  missingForCall: (v, name, fn) => missingForCall(name, fn, forceAttrs(v, null), null),
  addTrace: (drvAttrs, e, hint) => {
    if (!(e instanceof NixEvalError)) return false;
    e.addTrace(forceAttrs(drvAttrs, null).posOf('name') ?? null, hint);
    return true;
  },
  mkString: (s, ctx) => mkString(s, ctx),
  mkAttrs: (m) => new NixAttrs(m),
  isAttrs: (v) => force(v) instanceof NixAttrs,
  isFunction: (v) => isFunction(force(v)),
  call: (f, args) => callN(force(f), args, null),
  coerceToPath: (v, ctx) => coerceToPath(force(v), ctx, null),
  showType: (v) => showType(force(v)),
};

/** Global names Nix binds at top level besides `builtins.<name>`. */
const GLOBAL = new Set(['derivationStrict', 'placeholder', 'fetchTarball']);

/** Registers the primops bound to `session` (replacing the evaluator's store-less stand-ins). */
export function registerDerivationPrimops(session: InstantiationSession): void {
  for (const [key, fn] of Object.entries(derivationPrimops(evalHost, session))) {
    const name = key.replace(/^__/, '');
    registerBuiltin(name, new PrimOp(name, fn.length, (_pos, ...args: Lazy[]) => force(fn(...args.slice(0, fn.length)))), { global: GLOBAL.has(name) });
  }
}

/**
 * For evaluation without writing (as `nix-instantiate --eval`, which runs read-only): registers the
 * derivation/source primops over a fresh session and returns the StoreAdapter to give the
 * NixEvaluator, so derivations, toFile, builtins.path and path coercions give Nix's store paths.
 * Call before constructing the NixEvaluator; nothing is written unless `session.flush(store)`.
 */
export function enableDerivations(session: InstantiationSession = new InstantiationSession()): StoreAdapter & { session: InstantiationSession } {
  registerDerivationPrimops(session);
  return { storeDir: '/nix/store', copyPathToStore: (p) => session.copyPathToStore(p), session };
}

/**
 * enableDerivations for `tsix eval` (on the main thread or in its worker): the evaluator's own
 * storePath checks the path as Nix does (status of each component, then validity, which realises
 * it through the store reads); it is kept over the session's.
 */
export function enableDerivationsForEval(): StoreAdapter & { session: InstantiationSession } {
  const storePath = builtinEntries().get('storePath');
  const store = enableDerivations();
  if (storePath) registerBuiltin('storePath', storePath.value, { global: storePath.global });
  return store;
}

export async function createInstantiateEvaluator(session: InstantiationSession, _store: Store, opts: GlueOptions): Promise<InstantiateSession<Lazy>> {
  registerDerivationPrimops(session);
  const searchPath = parseSearchPath([...opts.includePaths, ...(process.env.NIX_PATH ?? '').split(':')]);
  const ev = new NixEvaluator({ searchPath, store: { storeDir: '/nix/store', copyPathToStore: (p) => session.copyPathToStore(p) } });
  return {
    host: evalHost,
    kind: (v) => {
      const x: Value = force(v);
      return x instanceof NixAttrs ? 'attrs' : Array.isArray(x) ? 'list' : isFunction(x) ? 'function' : 'other';
    },
    autoCall: (v, autoArgs) => ev.autoCall(force(v), autoArgs),
    findAlongAttrPath: (v, attrPath, autoArgs) => ev.findAlongAttrPath(force(v), attrPath, autoArgs),
    identity: (v) => force(v) as NixAttrs,
    evalFile: (path) => ev.evalFile(path),
    evalString: (expr, dir) => ev.evalString(expr, dir),
    autoArgs: (args) => new Map(args.map((a) => [a.name, a.isString ? a.value : new Thunk(null, null, () => ev.evalString(a.value, process.cwd()))])),
  };
}
