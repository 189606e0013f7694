// The derivation and source primops of Nix 2.8, written against DrvHost (a view of the
// evaluator's values) so that the evaluator's builtins table only has to wrap them.
import { parseHash, type NixHash } from '../../store/nix/hash.js';
import { splitStorePath } from '../../store/nix/store-path.js';
import { derivationStrict, drvPathContext, outputContext, type EvalOps } from './derivation-strict.js';
import { hashPlaceholder } from './placeholder.js';
import { DerivationEvalError, type InstantiationSession } from './session.js';
import type { SourceFileType } from './source-hash.js';

/** What the primops need beyond EvalOps: building values and calling functions. */
export interface DrvHost<V> extends EvalOps<V> {
  mkString(s: string, context: Set<string>): V;
  mkAttrs(attrs: Map<string, V>): V;
  isAttrs(v: V): boolean;
  isFunction(v: V): boolean;
  /** Calls a function value with arguments (curried) and forces the result. */
  call(f: V, args: V[]): V;
  /** Nix's showType ("an integer", "a set", …) for error messages. */
  showType(v: V): string;
  /** coerceToPath: an absolute path (string or path value), adding context to `ctx`. */
  coerceToPath(v: V, ctx: Set<string>): string;
}

export type Primop<V> = (...args: V[]) => V;

/** Nix's newHashAllowEmpty(s, sha256) for the `sha256` arguments of path and fetchers. */
function sha256Arg(s: string): NixHash {
  if (s === '') return { algo: 'sha256', digest: Buffer.alloc(32) };
  try {
    return parseHash(s, 'sha256');
  } catch (e) {
    throw new DerivationEvalError((e as Error).message.replace(/^hash: /, ''), { hash: s });
  }
}

function baseName(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t.slice(t.lastIndexOf('/') + 1);
}

/**
 * derivationStrict, placeholder, storePath, unsafeDiscardOutputDependency, path, filterSource,
 * toFile, fetchurl, fetchTarball; names as Nix registers them (`__` for those only under builtins).
 */
export function derivationPrimops<V>(host: DrvHost<V>, session: InstantiationSession): Record<string, Primop<V>> {
  const str = (s: string, ...ctx: string[]): V => host.mkString(s, new Set(ctx));
  const filterOf = (f: V | null) => (f === null ? null : (p: string, t: SourceFileType): boolean =>
    host.forceBool(host.call(f, [str(p), str(t)])));

  return {
    derivationStrict: (arg) => {
      const r = derivationStrict(host, session, arg);
      const attrs = new Map<string, V>([['drvPath', str(r.drvPath, drvPathContext(r.drvPath))]]);
      for (const [o, p] of r.outputs) attrs.set(o, str(p, outputContext(r.drvPath, o)));
      return host.mkAttrs(attrs);
    },

    placeholder: (name) => str(hashPlaceholder(host.forceStringNoCtx(name))),

    __storePath: (p) => {
      const ctx = new Set<string>();
      const path = host.coerceToPath(p, ctx);
      let sp: string;
      try {
        const { storePath } = splitStorePath(path);
        sp = `/nix/store/${storePath.hashPart}-${storePath.name}`;
      } catch {
        throw new DerivationEvalError(`path '${path}' is not in the Nix store`, { path });
      }
      ctx.add(sp);
      return host.mkString(path, ctx);
    },

    __unsafeDiscardOutputDependency: (s) => {
      const ctx = new Set<string>();
      const v = host.coerceToString(s, ctx);
      return host.mkString(v, new Set([...ctx].map((c) => (c[0] === '=' ? c.slice(1) : c))));
    },

    __toFile: (name, contents) => {
      const n = host.forceStringNoCtx(name);
      const ctx = new Set<string>();
      const text = host.forceString(contents, ctx);
      const p = session.toFile(n, text, ctx);
      return str(p, p);
    },

    __filterSource: (filter, path) => {
      const ctx = new Set<string>();
      const p = host.coerceToPath(path, ctx);
      if (!host.isFunction(filter)) throw new DerivationEvalError(`first argument in call to 'filterSource' is not a function but ${host.showType(filter)}`);
      const sp = session.addPath({ fsPath: p, name: baseName(p), recursive: true, filter: filterOf(filter), expectedSha256: null });
      return str(sp, sp);
    },

    __path: (arg) => {
      let path = '';
      let name = '';
      let filter: V | null = null;
      let recursive = true;
      let expected: NixHash | null = null;
      const ctx = new Set<string>();
      for (const [k, v] of host.attrs(arg)) {
        if (k === 'path') path = host.coerceToPath(v, ctx);
        else if (k === 'name') name = host.forceStringNoCtx(v);
        else if (k === 'filter') filter = v;
        else if (k === 'recursive') recursive = host.forceBool(v);
        else if (k === 'sha256') expected = sha256Arg(host.forceStringNoCtx(v));
        else throw new DerivationEvalError(`unsupported argument '${k}' to 'addPath'`, { argument: k });
      }
      if (path === '') throw new DerivationEvalError(`'path' required`);
      const sp = session.addPath({ fsPath: path, name: name || baseName(path), recursive, filter: filterOf(filter), expectedSha256: expected });
      return str(sp, sp);
    },

    __fetchurl: (arg) => {
      const a = fetchArgs(host, arg, 'fetchurl');
      const p = session.fetchurl(a.url, a.name, a.sha256);
      return str(p, p);
    },

    fetchTarball: (arg) => {
      const a = fetchArgs(host, arg, 'fetchTarball');
      const p = session.fetchTarball(a.url, a.name, a.sha256);
      return str(p, p);
    },
  };
}

function fetchArgs<V>(host: DrvHost<V>, arg: V, who: string): { url: string; name: string | null; sha256: NixHash | null } {
  if (!host.isAttrs(arg)) return { url: host.forceStringNoCtx(arg), name: null, sha256: null };
  let url: string | null = null;
  let name: string | null = null;
  let sha256: NixHash | null = null;
  for (const [k, v] of host.attrs(arg)) {
    if (k === 'url') url = host.forceStringNoCtx(v);
    else if (k === 'sha256') sha256 = sha256Arg(host.forceStringNoCtx(v));
    else if (k === 'name') name = host.forceStringNoCtx(v);
    else throw new DerivationEvalError(`unsupported argument '${k}' to '${who}'`, { argument: k });
  }
  if (url === null) throw new DerivationEvalError(`'url' argument required`);
  return { url, name, sha256 };
}
