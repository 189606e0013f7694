// builtins.derivationStrict as Nix 2.8's prim_derivationStrict, written against a small view of
// the evaluator's values (EvalOps) so that it does not depend on the value model's layout.
import { DerivationEvalError, type DerivationSpec, type InstantiationSession } from './session.js';
import { compareBytes } from './derivation.js';

/** What derivationStrict needs from the evaluator. Every method forces its argument. */
export interface EvalOps<V> {
  /** The attributes of an attribute set (throws the evaluator's type error otherwise). */
  attrs(v: V): Map<string, V>;
  forceBool(v: V): boolean;
  isNull(v: V): boolean;
  forceList(v: V): V[];
  /** A string without context (throws if it has context, as Nix's forceStringNoCtx). */
  forceStringNoCtx(v: V): string;
  /** A string, adding its context to `ctx`. */
  forceString(v: V, ctx: Set<string>): string;
  /** coerceToString(coerceMore = true, copyToStore = true), adding context to `ctx`. */
  coerceToString(v: V, ctx: Set<string>): string;
  /** printValueAsJSON(strict, copyToStore), adding context to `ctx`. */
  toJSON(v: V, ctx: Set<string>): string;
  /**
   * Adds Nix's trace frame `hint`, positioned at the `name` attribute of `drvAttrs`, to an error
   * of the evaluator; false when `e` is not one (then the hint is appended to its message).
   */
  addTrace?(drvAttrs: V, e: unknown, hint: string): boolean;
  /** The evaluator's "attribute 'x' missing for call to 'f'" error for set `v`. */
  missingForCall?(v: V, name: string, fn: string): Error;
}

export interface StrictResult {
  drvPath: string;
  /** Output name → path (in output name order). */
  outputs: Map<string, string>;
}

/** Context string of a derivation's .drv path (the whole closure is needed). */
export function drvPathContext(drvPath: string): string {
  return '=' + drvPath;
}

/** Context string of one output of a derivation. */
export function outputContext(drvPath: string, output: string): string {
  return `!${output}!${drvPath}`;
}

/** Nix's tokenizeString on " \t\n\r" (outputs given as a string). */
function tokenize(s: string): string[] {
  return s.split(/[ \t\n\r]+/).filter((x) => x !== '');
}

function withTrace<V, T>(ops: EvalOps<V>, arg: V, hint: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (ops.addTrace?.(arg, e, hint)) throw e;
    if (e instanceof Error && !(e as { derivationTrace?: boolean }).derivationTrace) {
      e.message += `\n… ${hint}`;
      (e as { derivationTrace?: boolean }).derivationTrace = true;
    }
    throw e;
  }
}

/** derivationStrict over an evaluated attribute set; records the derivation in `session`. */
export function derivationStrict<V>(ops: EvalOps<V>, session: InstantiationSession, arg: V): StrictResult {
  const attrs = ops.attrs(arg);
  const nameV = attrs.get('name');
  if (nameV === undefined) throw ops.missingForCall?.(arg, 'name', 'derivationStrict') ?? new DerivationEvalError(`attribute 'name' missing for call to 'derivationStrict'`, {});
  const name = withTrace(ops, arg, `while evaluating the derivation attribute 'name'`, () => ops.forceStringNoCtx(nameV));

  const sa = attrs.get('__structuredAttrs');
  const structured = sa !== undefined && ops.forceBool(sa);
  const inl = attrs.get('__ignoreNulls');
  const ignoreNulls = inl !== undefined && ops.forceBool(inl);

  const ctx = new Set<string>();
  const env = new Map<string, string>();
  const args: string[] = [];
  const json: string[] = [];
  let builder = '';
  let system = '';
  let outputHash: string | null = null;
  let outputHashAlgo = '';
  let outputHashMode: 'flat' | 'recursive' | null = null;
  let outputs = ['out'];

  const hashMode = (s: string): void => {
    if (s === 'recursive') outputHashMode = 'recursive';
    else if (s === 'flat') outputHashMode = 'flat';
    else throw new DerivationEvalError(`invalid value '${s}' for 'outputHashMode' attribute`, { name });
  };
  const setOutputs = (ss: string[]): void => {
    const seen = new Set<string>();
    for (const j of ss) {
      if (seen.has(j)) throw new DerivationEvalError(`duplicate derivation output '${j}'`, { name });
      if (j === 'drv') throw new DerivationEvalError(`invalid derivation output name 'drv'`, { name });
      seen.add(j);
    }
    if (seen.size === 0) throw new DerivationEvalError('derivation cannot have an empty set of outputs', { name });
    outputs = [...seen].sort(compareBytes);
  };

  for (const key of [...attrs.keys()].sort(compareBytes)) {
    if (key === '__ignoreNulls') continue;
    const v = attrs.get(key)!;
    withTrace(ops, arg, `while evaluating the attribute '${key}' of the derivation '${name}'`, () => {
      if (ignoreNulls && ops.isNull(v)) return;
      if (key === '__contentAddressed' && ops.forceBool(v)) {
        throw new DerivationEvalError(`experimental Nix feature 'ca-derivations' is disabled; use '--extra-experimental-features ca-derivations' to override`, { name });
      }
      if (key === '__impure' && ops.forceBool(v)) {
        throw new DerivationEvalError(`experimental Nix feature 'impure-derivations' is disabled; use '--extra-experimental-features impure-derivations' to override`, { name });
      }
      if (key === '__contentAddressed' || key === '__impure') return;
      if (key === 'args') {
        for (const elem of ops.forceList(v)) args.push(ops.coerceToString(elem, ctx));
        return;
      }
      if (structured) {
        if (key === '__structuredAttrs') return;
        json.push(jsonKey(key) + ':' + ops.toJSON(v, ctx));
        if (key === 'builder') builder = ops.forceString(v, ctx);
        else if (key === 'system') system = ops.forceStringNoCtx(v);
        else if (key === 'outputHash') outputHash = ops.forceStringNoCtx(v);
        else if (key === 'outputHashAlgo') outputHashAlgo = ops.forceStringNoCtx(v);
        else if (key === 'outputHashMode') hashMode(ops.forceStringNoCtx(v));
        else if (key === 'outputs') setOutputs(ops.forceList(v).map((e) => ops.forceStringNoCtx(e)));
        return;
      }
      const s = ops.coerceToString(v, ctx);
      if (!env.has(key)) env.set(key, s);
      if (key === 'builder') builder = s;
      else if (key === 'system') system = s;
      else if (key === 'outputHash') outputHash = s;
      else if (key === 'outputHashAlgo') outputHashAlgo = s;
      else if (key === 'outputHashMode') hashMode(s);
      else if (key === 'outputs') setOutputs(tokenize(s));
    });
  }

  const spec: DerivationSpec = {
    name, builder, system, args, env, outputs, outputHash, outputHashAlgo, outputHashMode,
    context: ctx, structuredJson: structured ? '{' + json.join(',') + '}' : null,
  };
  return session.instantiate(spec);
}

/** A JSON object key as Nix's JSON writer prints it. */
function jsonKey(k: string): string {
  let out = '"';
  for (const ch of k) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 32) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}
