// The builtins of Nix 2.8 that need no store or network.
//
// EXTENSION POINT (for eval/derivation and other components): call
//   registerBuiltin(name, value)            — e.g. registerBuiltin('derivationStrict', new PrimOp('derivationStrict', 1, fn))
// before constructing an Evaluator (eval/evaluator-api.ts). `name` is the name under `builtins.`;
// pass { global: true } to also bind it at top level (as Nix does for map, toString, import, …).
// Every builtin is also bound as `__name` at top level, as in Nix. A PrimOp's fn receives its
// arguments unforced (Lazy) and returns a forced Value; use the helpers of ../evaluator.js
// (force, forceAttrs, forceStringCtx, coerceToString, callFunction, …) and ../values.js (mkString,
// mkAttrs, NixString with its context set). Path values reach the store through
// hooks.store (StoreAdapter in ../evaluator.js), which the evaluator's owner sets.
import type { Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync, lstatSync, statSync } from 'node:fs';
import { NixAbortError, NixEvalError, NixThrownError, type Pos } from '../errors.js';
import {
  callFunction, coerceToPath, coerceToString, copyPathToStore, eqValues, force, forceAttrs, forceBool, forceFloat,
  forceFunction, forceInt, forceList, forceString, forceStringCtx, forceStringNoCtx, hooks, lazyNative, lessThan, arith,
  isDerivation, typeError, determinePos, call2, body2,
} from '../evaluator.js';
import { mayKeepEnv, type Env } from '../ast.js';
import { baseNameOf, canonPath, dirOf } from '../paths.js';
import { printValue, printJSON, printXML, forceDeep, posFile } from '../print.js';
import {
  AttrKeys, EMPTY_CTX, appThunk, compareNames, appThunk2, Lambda, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Thunk, mkAttrs, mkString, typeOf, isString, strOf, ctxOf, showType,
  intAdd, intFromNumber, intToBigInt, mkInt, type Lazy, type NixInt, type PrimFn, type Value,
} from '../values.js';
import { compareVersions, splitVersion, parseDrvName } from '../lib/versions.js';
import { nixMatch, nixSplit, RegexError } from '../lib/regex.js';
import { fromTOML, TomlError, type TomlValue } from '../lib/toml.js';
import { fromJSON } from './json.js';
import { traceWrite } from '../trace.js';
import { COREPKGS } from '../derivation/corepkgs.js';
import { checkReadContext, hostPathOf } from '../ifd/store-reads.js';

const require = createRequire(import.meta.url);
let crypto: typeof import('node:crypto') | null = null;
/** node:crypto's createHash, the module loaded on first use: loading it is start-up time most evaluations do not need. */
function createHash(algo: string): Hash {
  return (crypto ??= require('node:crypto') as typeof import('node:crypto')).createHash(algo);
}

/** Where `<nix/…>` (Nix's corepkgs) lives; files there are served from memory. */
export const COREPKGS_DIR = '/__corepkgs__';

interface Entry { value: Value; global: boolean; }
const table = new Map<string, Entry>();

export function registerBuiltin(name: string, value: Value, opts: { global?: boolean } = {}): void {
  table.set(name, { value, global: opts.global ?? false });
}

export function builtinEntries(): ReadonlyMap<string, Entry> {
  return table;
}

/** Hooks the evaluator provides to builtins (import, scopedImport, findFile). */
export interface BuiltinHost {
  importFile(path: string, scope: NixAttrs | null, pos: Pos | null): Value;
  nixPath(): Value;
}
let host: BuiltinHost | null = null;
export function setBuiltinHost(h: BuiltinHost): void { host = h; }

function prim(name: string, arity: number, fn: PrimFn, global = false): void {
  registerBuiltin(name, new PrimOp(name, arity, fn), { global });
}

const str = (v: Lazy, pos: Pos | null) => strOf(forceString(v, pos));
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

// ---- constants
registerBuiltin('true', true, { global: true });
registerBuiltin('false', false, { global: true });
registerBuiltin('null', null, { global: true });
registerBuiltin('currentSystem', 'x86_64-linux');
registerBuiltin('nixVersion', '2.8.0');
registerBuiltin('langVersion', 6);
registerBuiltin('storeDir', '/nix/store');
// currentTime is set by each evaluator (nix-evaluator.ts).

// ---- control
prim('throw', 1, (pos, m) => { throw new NixThrownError(coerceToString(force(m!), new Set(), false, false, pos)); }, true);
prim('abort', 1, (pos, m) => {
  throw new NixAbortError(`evaluation aborted with the following error message: '${coerceToString(force(m!), new Set(), false, false, pos)}'`);
}, true);
prim('addErrorContext', 2, (pos, m, v) => {
  try {
    return force(v!);
  } catch (e) {
    // Nix adds the message as a frame without position.
    if (e instanceof NixEvalError) e.addTrace(null, coerceToString(force(m!), new Set(), false, false, pos));
    throw e;
  }
});
prim('seq', 2, (_pos, a, b) => { force(a!); return force(b!); });
prim('deepSeq', 2, (_pos, a, b) => { forceDeep(a!); return force(b!); });
prim('trace', 2, (_pos, m, v) => {
  const x = force(m!);
  traceWrite(`trace: ${typeof x === 'string' ? x : x instanceof NixString ? x.s : printValue(x)}\n`);
  return force(v!);
});
prim('tryEval', 1, (_pos, v) => {
  try {
    const x = force(v!);
    void x;
    return mkAttrs({ success: true, value: v! });
  } catch (e) {
    if (e instanceof NixThrownError) return mkAttrs({ success: false, value: false });
    throw e;
  }
});

// ---- types
prim('typeOf', 1, (_pos, v) => typeOf(force(v!)));
prim('isNull', 1, (_pos, v) => force(v!) === null, true);
prim('isInt', 1, (_pos, v) => { const x = force(v!); return typeof x === 'number' || typeof x === 'bigint'; });
prim('isFloat', 1, (_pos, v) => force(v!) instanceof NixFloat);
prim('isBool', 1, (_pos, v) => typeof force(v!) === 'boolean');
prim('isString', 1, (_pos, v) => isString(force(v!)));
prim('isPath', 1, (_pos, v) => force(v!) instanceof NixPath);
prim('isList', 1, (_pos, v) => Array.isArray(force(v!)));
prim('isAttrs', 1, (_pos, v) => force(v!) instanceof NixAttrs);
prim('isFunction', 1, (_pos, v) => { const x = force(v!); return x instanceof Lambda || x instanceof PrimOp || x instanceof PrimOpApp; });

// ---- arithmetic
prim('add', 2, (pos, a, b) => {
  const x = force(a!), y = force(b!);
  if (x instanceof NixFloat || y instanceof NixFloat) return new NixFloat(forceFloat(x, pos) + forceFloat(y, pos));
  return intAdd(forceInt(x, pos), forceInt(y, pos));
});
prim('sub', 2, (pos, a, b) => arith('-', force(a!), force(b!), pos));
prim('mul', 2, (pos, a, b) => arith('*', force(a!), force(b!), pos));
prim('div', 2, (pos, a, b) => arith('/', force(a!), force(b!), pos));
// Nix's CompareValues reports its errors without a position.
prim('lessThan', 2, (_pos, a, b) => lessThan(force(a!), force(b!), null));
/** A bitwise operation: on JS numbers when both fit in 32 bits (JS's bitwise operators are int32), else on bigints. */
function bitOp(x: NixInt, y: NixInt, small: (a: number, b: number) => number, big: (a: bigint, b: bigint) => bigint): NixInt {
  if (typeof x === 'number' && typeof y === 'number' && (x | 0) === x && (y | 0) === y) return small(x, y);
  return mkInt(big(intToBigInt(x), intToBigInt(y)));
}
prim('bitAnd', 2, (pos, a, b) => bitOp(forceInt(a!, pos), forceInt(b!, pos), (x, y) => x & y, (x, y) => x & y));
prim('bitOr', 2, (pos, a, b) => bitOp(forceInt(a!, pos), forceInt(b!, pos), (x, y) => x | y, (x, y) => x | y));
prim('bitXor', 2, (pos, a, b) => bitOp(forceInt(a!, pos), forceInt(b!, pos), (x, y) => x ^ y, (x, y) => x ^ y));
prim('ceil', 1, (pos, a) => intFromNumber(Math.ceil(forceFloat(a!, pos))));
prim('floor', 1, (pos, a) => intFromNumber(Math.floor(forceFloat(a!, pos))));

// ---- attrsets
/**
 * Nix's getAttr helper of primops: the error is positioned at the set's literal (with a trace
 * naming the builtin) when the set came from one, else at the call.
 */
export function missingForCall(name: string, fn: string, set: NixAttrs, pos: Pos | null): NixEvalError {
  const msg = `attribute '${name}' missing for call to '${fn}'`;
  if (set.litPos === null) return new NixEvalError(msg, pos);
  return new NixEvalError(msg, set.litPos).addTrace(pos, `while invoking '${fn}'`);
}

prim('attrNames', 1, (pos, a) => forceAttrs(a!, pos).sortedNames());
prim('attrValues', 1, (pos, a) => { const s = forceAttrs(a!, pos); return s.sortedNames().map((k) => s.get(k)!); });
prim('getAttr', 2, (pos, n, a) => {
  const name = forceStringNoCtx(n!, pos);
  const s = forceAttrs(a!, pos);
  const v = s.get(name);
  if (v === undefined) throw missingForCall(name, 'getAttr', s, pos);
  return force(v);
});
prim('hasAttr', 2, (pos, n, a) => forceAttrs(a!, pos).has(forceStringNoCtx(n!, pos)));
prim('removeAttrs', 2, (pos, a, l) => {
  const s = forceAttrs(a!, pos);
  const m = new Map(s.map);
  for (const x of forceList(l!, pos)) m.delete(forceStringNoCtx(x, pos));
  const r = new NixAttrs(m); r.posFrom = [s]; return r;
}, true);
prim('listToAttrs', 1, (pos, l) => {
  // Made indexed (see NixAttrs.indexed): a mapAttrs over it then shares its names.
  const slots = new Map<string, number>();
  const names: string[] = [];
  const vals: Lazy[] = [null];
  const xs = forceList(l!, pos);
  for (let i = 0; i < xs.length; i++) {
    const s = forceAttrs(xs[i]!, pos);
    const n = s.get('name');
    if (n === undefined) throw missingForCall('name', 'listToAttrs', s, pos);
    const name = forceStringNoCtx(n, pos);
    if (slots.has(name)) continue;
    const v = s.get('value');
    if (v === undefined) throw missingForCall('value', 'listToAttrs', s, pos);
    slots.set(name, vals.length);
    names.push(name);
    vals.push(v);
  }
  const r = names.length === 0 ? new NixAttrs(new Map()) : NixAttrs.indexed(new AttrKeys(slots, names), vals);
  r.pos = new ListToAttrsPos(xs);
  return r;
});

/**
 * Nix positions each attribute of listToAttrs at its element's `value`. Rarely asked for, so the
 * name → element map is built on the first question (the names are forced by then).
 */
class ListToAttrsPos {
  private srcs: Map<string, NixAttrs> | null = null;
  constructor(private readonly xs: Lazy[]) {}
  get(k: string): Pos | undefined {
    if (this.srcs === null) {
      this.srcs = new Map();
      for (const x of this.xs) {
        const s = force(x) as NixAttrs;
        const name = strOf(force(s.get('name')!) as string | NixString);
        if (!this.srcs.has(name)) this.srcs.set(name, s);
      }
    }
    return this.srcs.get(k)?.posOf('value');
  }
}
prim('intersectAttrs', 2, (pos, a, b) => {
  const x = forceAttrs(a!, pos), y = forceAttrs(b!, pos);
  const m = new Map<string, Lazy>();
  for (const [k, v] of y.map) if (x.map.has(k)) m.set(k, v);
  const r = new NixAttrs(m); r.posFrom = [y]; return r; // Nix copies the attributes with their positions
});
prim('catAttrs', 2, (pos, n, l) => {
  const name = forceStringNoCtx(n!, pos);
  const out: Lazy[] = [];
  for (const e of forceList(l!, pos)) { const v = forceAttrs(e, pos).get(name); if (v !== undefined) out.push(v); }
  return out;
});
prim('functionArgs', 1, (pos, f) => {
  const x = force(f!);
  if (x instanceof Lambda) {
    const m = new Map<string, Lazy>();
    const ps = new Map<string, Pos>();
    if (x.fn.formals) for (const fm of x.fn.formals) { m.set(fm.name, fm.def !== null); if (fm.pos) ps.set(fm.name, fm.pos); }
    const r = new NixAttrs(m);
    r.pos = ps;
    return r;
  }
  if (x instanceof PrimOp || x instanceof PrimOpApp) return new NixAttrs(new Map());
  throw new NixEvalError(`'functionArgs' requires a function`, pos);
});
prim('mapAttrs', 2, (pos, f, a) => {
  const s = forceAttrs(a!, pos);
  // As Nix: per attribute, the application of (the application of f to the name) to the value.
  return s.mapValues((k, v) => appThunk2(f!, k, v)); // called without a position, as Nix's mkApp; Nix's mapAttrs keeps no positions
});
prim('zipAttrsWith', 2, (pos, f, l) => {
  forceFunction(f!, pos);
  const acc = new Map<string, Lazy[]>();
  for (const e of forceList(l!, pos)) {
    const x = force(e);
    // Nix: a type error without position, traced at the call.
    if (!(x instanceof NixAttrs)) throw typeError('a set', x, null).addTrace(pos, "while invoking 'zipAttrsWith'");
    for (const [k, v] of x.map) { let a = acc.get(k); if (!a) acc.set(k, a = []); a.push(v); }
  }
  const m = new Map<string, Lazy>();
  // Lazy applications (Nix's mkApp), called without a position.
  for (const [k, vs] of acc) m.set(k, appThunk2(f!, k, vs));
  return new NixAttrs(m);
});
prim('unsafeGetAttrPos', 2, (pos, n, a) => {
  const name = forceStringNoCtx(n!, pos);
  const s = forceAttrs(a!, pos);
  const p = s.posOf(name);
  if (!s.has(name) || !p) return null;
  return mkAttrs({ file: posFile(p), line: p.line, column: p.col });
});

// ---- lists
prim('length', 1, (pos, l) => forceList(l!, pos).length);
prim('head', 1, (pos, l) => {
  const x = forceList(l!, pos);
  if (x.length === 0) throw new NixEvalError(`list index 0 is out of bounds`, pos);
  return force(x[0]!);
});
prim('tail', 1, (pos, l) => {
  const x = forceList(l!, pos);
  if (x.length === 0) throw new NixEvalError(`'tail' called on an empty list`, pos);
  return x.slice(1);
});
prim('elemAt', 2, (pos, l, n) => {
  const x = forceList(l!, pos), i = forceInt(n!, pos);
  if (i < 0 || i >= x.length) throw new NixEvalError(`list index ${i} is out of bounds`, pos);
  return force(x[Number(i)]!);
});
prim('elem', 2, (pos, e, l) => { const x = force(e!); return forceList(l!, pos).some((y) => eqValues(x, force(y), pos)); });
prim('map', 2, (pos, f, l) => forceList(l!, pos).map((e) => appThunk(f!, e, null)), true); // called without a position, as Nix's mkApp
prim('filter', 2, (pos, f, l) => { const fn = forceFunction(f!, pos); return forceList(l!, pos).filter((e) => forceBool(callFunction(fn, e, pos), pos)); });
prim('foldl\'', 3, (pos, f, z, l) => {
  const fn = forceFunction(f!, pos);
  let acc: Lazy = z!;
  const xs = forceList(l!, pos);
  // call2 written out for the usual `acc: x: …` (a call less per element, see call2).
  const body = body2(fn);
  if (body !== null) {
    const env = (fn as Lambda).env;
    if (mayKeepEnv(body)) {
      for (let i = 0; i < xs.length; i++) acc = body.eval([[env, acc], xs[i]]);
    } else {
      // Nothing the body makes keeps its frames (`acc + x`, `acc + s.${x}`, …): one pair serves every element.
      const outer: Env = [env, acc], frame: Env = [outer, acc];
      for (let i = 0; i < xs.length; i++) { outer[1] = acc; frame[1] = xs[i]; acc = body.eval(frame); }
    }
  } else {
    for (let i = 0; i < xs.length; i++) acc = call2(fn, acc, xs[i]!, pos);
  }
  return force(acc);
});
prim('genList', 2, (pos, f, n) => {
  const len = forceInt(n!, pos);
  if (len < 0) throw new NixEvalError(`cannot create list of size ${len}`, pos);
  const out: Lazy[] = new Array(Number(len));
  for (let i = 0; i < out.length; i++) out[i] = appThunk(f!, i, null); // called without a position, as Nix's mkApp
  return out;
});
prim('concatLists', 1, (pos, l) => ([] as Lazy[]).concat(...forceList(l!, pos).map((x) => forceList(x, pos))));
prim('concatMap', 2, (pos, f, l) => {
  const fn = forceFunction(f!, pos);
  return ([] as Lazy[]).concat(...forceList(l!, pos).map((x) => {
    const r = callFunction(fn, x, pos);
    if (Array.isArray(r)) return r;
    // Nix: at the result's (or else the function's) position, traced at the call.
    throw typeError('a list', r, determinePos(r, determinePos(fn, pos))).addTrace(pos, "while invoking 'concatMap'");
  }));
});
prim('all', 2, (pos, f, l) => { const fn = forceFunction(f!, pos); return forceList(l!, pos).every((x) => forceBool(callFunction(fn, x, pos), pos)); });
prim('any', 2, (pos, f, l) => { const fn = forceFunction(f!, pos); return forceList(l!, pos).some((x) => forceBool(callFunction(fn, x, pos), pos)); });
const lessThanOp = table.get('lessThan')!.value as PrimOp;
prim('sort', 2, (pos, f, l) => {
  const fn = forceFunction(f!, pos);
  // As Nix: every element forced first, in order.
  const x = forceList(l!, pos).map(force);
  if (fn === lessThanOp) {
    const fast = sortPlain(x);
    if (fast !== null) return fast;
  }
  // A stable merge sort calling the comparator as Nix's std::stable_sort does (less-than).
  return mergeSort(x, (a, b) => forceBool(call2(fn, a, b, pos), pos));
});

/**
 * `sort lessThan` of only ints or only strings without context, sorted natively: equal elements
 * are then indistinguishable, so any correct order is Nix's. Null when the list is of other kinds.
 */
function sortPlain(x: Value[]): Value[] | null {
  const n = x.length;
  if (x.every((v) => typeof v === 'number')) {
    // Copied by hand: Float64Array.from and Array.from go through the iterator protocol.
    const f = new Float64Array(n);
    for (let i = 0; i < n; i++) f[i] = x[i] as number;
    f.sort();
    for (let i = 0; i < n; i++) x[i] = f[i]!;
    return x;
  }
  if (x.every((v) => typeof v === 'string')) return (x as string[]).sort(compareNames);
  return null;
}
prim('partition', 2, (pos, f, l) => {
  const fn = forceFunction(f!, pos);
  const right: Lazy[] = [], wrong: Lazy[] = [];
  for (const e of forceList(l!, pos)) (forceBool(callFunction(fn, e, pos), pos) ? right : wrong).push(e);
  return mkAttrs({ right, wrong });
});
prim('groupBy', 2, (pos, f, l) => {
  const fn = forceFunction(f!, pos);
  const m = new Map<string, Lazy[]>();
  for (const e of forceList(l!, pos)) {
    const k = forceStringNoCtx(callFunction(fn, e, pos), pos);
    let a = m.get(k); if (!a) m.set(k, a = []); a.push(e);
  }
  return new NixAttrs(m as Map<string, Lazy>);
});
prim('genericClosure', 1, (pos, a) => {
  const args = forceAttrs(a!, pos);
  const start = args.map.get('startSet'), op = args.map.get('operator');
  if (start === undefined) throw missingForCall('startSet', 'genericClosure', args, pos);
  const work = forceList(start, pos).slice();
  if (op === undefined) throw missingForCall('operator', 'genericClosure', args, pos);
  const res: Lazy[] = [];
  // Keys seen: numbers, strings and paths by a canonical string (1 and 1.0 are one key, as in
  // Nix's ordered set); other kinds by comparison.
  const seen = new Set<string>();
  const others: Value[] = [];
  let firstKey: Value | undefined, firstKind: string | undefined;
  const opf = force(op);
  for (let i = 0; i < work.length; i++) {
    const e = work[i]!;
    const s = forceAttrs(e, pos);
    const k = s.map.get('key');
    if (k === undefined) throw new NixEvalError(`attribute 'key' required`, pos);
    const key = force(k);
    const canon = typeof key === 'bigint' || typeof key === 'number' ? `n${Number(key)}` : key instanceof NixFloat ? `n${key.v}` : isString(key) ? `s${strOf(key)}` : key instanceof NixPath ? `p${key.path}` : null;
    // Keys live in an ordered set: keys of kinds that cannot be compared are an error.
    if (firstKey === undefined) firstKey = key;
    else if ((canon?.[0] ?? 'o') !== firstKind) throw new NixEvalError(`cannot compare ${showType(key)} with ${showType(firstKey)}`);
    firstKind ??= canon?.[0] ?? 'o';
    if (canon !== null) {
      if (seen.has(canon)) continue;
      seen.add(canon);
    } else {
      if (others.some((d) => eqValues(d, key, pos))) continue;
      others.push(key);
    }
    res.push(e);
    for (const n of forceList(callFunction(opf, e, pos), pos)) work.push(n);
  }
  return res;
});

/** Stable merge sort (bottom-up) calling only `less`, as std::stable_sort does. */
function mergeSort(a: Lazy[], less: (x: Lazy, y: Lazy) => boolean): Lazy[] {
  const n = a.length;
  let src = a, dst: Lazy[] = new Array(n);
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n), hi = Math.min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) dst[k++] = less(src[j]!, src[i]!) ? src[j++]! : src[i++]!;
      while (i < mid) dst[k++] = src[i++]!;
      while (j < hi) dst[k++] = src[j++]!;
    }
    const t = src; src = dst; dst = t;
  }
  return src;
}


// ---- strings
prim('toString', 1, (pos, v) => {
  const x = force(v!);
  if (typeof x === 'string') return x;
  if (typeof x === 'number') return String(x);
  const ctx = new Set<string>();
  return mkString(coerceToString(x, ctx, true, false, pos), ctx);
}, true);
prim('stringLength', 1, (pos, v) => {
  const x = force(v!);
  const s = typeof x === 'string' ? x : coerceToString(x, new Set(), false, true, pos);
  return Buffer.byteLength(s, 'utf8'); // the length of the UTF-8 bytes, computed without them
});
prim('substring', 3, (pos, a, b, v) => {
  const start = forceInt(a!, pos), len = forceInt(b!, pos);
  const ctx = new Set<string>();
  const s = coerceToString(force(v!), ctx, false, false, pos);
  if (start < 0) throw new NixEvalError("negative start position in 'substring'", pos);
  if (isAscii(s)) {
    const st = Number(start);
    return mkString(len < 0 ? s.slice(st) : s.slice(st, st + Number(len > s.length ? s.length : len)), ctx);
  }
  const buf = utf8(s), st = Number(start);
  const end = len < 0 ? buf.length : Math.min(buf.length, st + Number(len > buf.length ? buf.length : len));
  return mkString(st >= buf.length ? '' : buf.subarray(st, end).toString('utf8'), ctx);
});
prim('concatStringsSep', 2, (pos, sep, l) => {
  // Plain strings, the common case, need no context set.
  const s = force(sep!);
  if (typeof s !== 'string') return concatSep(s, l!, pos);
  const xs = forceList(l!, pos);
  let out = '';
  for (let i = 0; i < xs.length; i++) {
    const x = force(xs[i]!);
    if (typeof x !== 'string') return concatSep(s, xs, pos);
    out += i === 0 ? x : s + x;
  }
  return out;
});
function concatSep(sep: Value, l: Lazy, pos: Pos | null): Value {
  const ctx = new Set<string>();
  const s = forceStringCtx(sep, ctx, pos);
  return mkString(forceList(l, pos).map((e) => coerceToString(force(e), ctx, false, true, pos)).join(s), ctx);
}
prim('replaceStrings', 3, (pos, from, to, s) => {
  const fromL = forceList(from!, pos).map((x) => str(x, pos));
  const toL = forceList(to!, pos);
  if (fromL.length !== toL.length) throw new NixEvalError(`'from' and 'to' arguments to 'replaceStrings' have different lengths`, pos);
  const ctx = new Set<string>();
  const input = forceStringCtx(s!, ctx, pos);
  const toS: (string | null)[] = toL.map(() => null);
  let out = '';
  for (let p = 0; p <= input.length;) {
    let found = false;
    for (let i = 0; i < fromL.length; i++) {
      const f = fromL[i]!;
      if (input.startsWith(f, p)) {
        if (toS[i] === null) toS[i] = forceStringCtx(toL[i]!, ctx, pos);
        out += toS[i];
        if (f.length === 0) { if (p < input.length) out += input[p]; p++; } else p += f.length;
        found = true;
        break;
      }
    }
    if (!found) { if (p < input.length) out += input[p]; p++; }
  }
  return mkString(out, ctx);
});
prim('baseNameOf', 1, (pos, v) => { const ctx = new Set<string>(); return mkString(baseNameOf(coerceToString(force(v!), ctx, false, false, pos)), ctx); }, true);
prim('dirOf', 1, (pos, v) => {
  const x = force(v!);
  if (x instanceof NixPath) return new NixPath(dirOf(x.path));
  const ctx = new Set<string>();
  return mkString(dirOf(coerceToString(x, ctx, false, false, pos)), ctx);
}, true);
prim('toPath', 1, (pos, v) => { const ctx = new Set<string>(); return mkString(canonPath(coerceToPath(force(v!), ctx, pos)), ctx); });
prim('compareVersions', 2, (pos, a, b) => (compareVersions(forceStringNoCtx(a!, pos), forceStringNoCtx(b!, pos))));
prim('splitVersion', 1, (pos, a) => splitVersion(forceStringNoCtx(a!, pos)));
prim('parseDrvName', 1, (pos, a) => { const r = parseDrvName(forceStringNoCtx(a!, pos)); return mkAttrs(r); });
function regexCall<T>(f: () => T, pos: Pos | null): T {
  try { return f(); } catch (e) {
    if (e instanceof RegexError) throw new NixEvalError(e.message, pos);
    throw e;
  }
}
prim('match', 2, (pos, re, s) => {
  const r = forceStringNoCtx(re!, pos), input = str(s!, pos);
  return regexCall(() => nixMatch(r, input), pos);
});
prim('split', 2, (pos, re, s) => {
  const r = forceStringNoCtx(re!, pos), input = str(s!, pos);
  return regexCall(() => nixSplit(r, input), pos) as Lazy[];
});
function tomlToValue(v: TomlValue): Value {
  if (Array.isArray(v)) return v.map(tomlToValue);
  if (typeof v === 'object') return new NixAttrs(new Map(Object.entries(v).map(([k, x]) => [k, tomlToValue(x)])));
  if (typeof v === 'bigint') return mkInt(v);
  if (typeof v === 'number') return new NixFloat(v);
  return v;
}
prim('fromTOML', 1, (pos, s) => {
  try { return tomlToValue(fromTOML(str(s!, pos))); } catch (e) {
    if (e instanceof TomlError) throw new NixEvalError(e.message, pos);
    throw e;
  }
});

// ---- string context
prim('hasContext', 1, (pos, s) => ctxOf(forceString(s!, pos)).size > 0);
prim('unsafeDiscardStringContext', 1, (pos, s) => str(s!, pos));
prim('unsafeDiscardOutputDependency', 1, (pos, s) => {
  const x = forceString(s!, pos);
  const ctx = new Set<string>();
  for (const c of ctxOf(x)) ctx.add(c.startsWith('=') ? c.slice(1) : c);
  return mkString(strOf(x), ctx);
});
prim('getContext', 1, (pos, s) => {
  const info = new Map<string, { path: boolean; all: boolean; outputs: string[] }>();
  const get = (p: string) => { let i = info.get(p); if (!i) info.set(p, i = { path: false, all: false, outputs: [] }); return i; };
  for (const c of ctxOf(forceString(s!, pos))) {
    if (c.startsWith('=')) get(c.slice(1)).all = true;
    else if (c.startsWith('!')) { const k = c.indexOf('!', 1); get(c.slice(k + 1)).outputs.push(c.slice(1, k)); }
    else get(c).path = true;
  }
  const m = new Map<string, Lazy>();
  for (const [p, i] of info) {
    const a = new Map<string, Lazy>();
    if (i.path) a.set('path', true);
    if (i.all) a.set('allOutputs', true);
    if (i.outputs.length) a.set('outputs', i.outputs.sort());
    m.set(p, new NixAttrs(a));
  }
  return new NixAttrs(m);
});
prim('appendContext', 2, (pos, s, c) => {
  const x = forceString(s!, pos);
  const ctx = new Set(ctxOf(x));
  for (const [p, v] of forceAttrs(c!, pos).map) {
    if (!p.startsWith('/nix/store/')) throw new NixEvalError(`context key '${p}' is not a store path`, pos);
    const a = forceAttrs(v, pos);
    const pathV = a.map.get('path');
    if (pathV !== undefined && forceBool(pathV, pos)) ctx.add(p);
    const all = a.map.get('allOutputs');
    if (all !== undefined && forceBool(all, pos)) {
      if (!p.endsWith('.drv')) throw new NixEvalError(`tried to add all-outputs context of ${p}, which is not a derivation, to a string`, pos);
      ctx.add('=' + p);
    }
    const outs = a.map.get('outputs');
    if (outs !== undefined) {
      const l = forceList(outs, pos);
      if (l.length && !p.endsWith('.drv')) throw new NixEvalError(`tried to add derivation output context of ${p}, which is not a derivation, to a string`, pos);
      for (const o of l) ctx.add(`!${forceStringNoCtx(o, pos)}!${p}`);
    }
  }
  return mkString(strOf(x), ctx);
});

// ---- JSON, XML, hashing
prim('toJSON', 1, (pos, v) => {
  const ctx = new Set<string>();
  const out: string[] = [];
  printJSON(v!, true, ctx, out, pos);
  return mkString(out.join(''), ctx);
});
prim('fromJSON', 1, (pos, v) => {
  const s = str(v!, pos);
  try {
    return fromJSON(s, pos);
  } catch (e) {
    // Nix's JSON parser errors have no position; Nix traces them at the call.
    if (e instanceof NixEvalError && e.bare.startsWith('[json.exception.')) { e.pos = null; e.addTrace(pos, 'while decoding a JSON string'); }
    throw e;
  }
});
prim('toXML', 1, (_pos, v) => { const ctx = new Set<string>(); return mkString(printXML(v!, true, ctx, false), ctx); });
const HASH_ALGOS: Record<string, string> = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha512: 'sha512' };
prim('hashString', 2, (pos, t, s) => {
  const algo = forceStringNoCtx(t!, pos);
  if (!HASH_ALGOS[algo]) throw new NixEvalError(`unknown hash algorithm '${algo}'`, pos);
  return createHash(HASH_ALGOS[algo]!).update(str(s!, pos)).digest('hex');
});
prim('hashFile', 2, (pos, t, p) => {
  const algo = forceStringNoCtx(t!, pos);
  if (!HASH_ALGOS[algo]) throw new NixEvalError(`unknown hash algorithm '${algo}'`, pos);
  const ctx = new Set<string>();
  const path = coerceToPath(force(p!), ctx, pos);
  checkReadContext(ctx);
  return createHash(HASH_ALGOS[algo]!).update(readFileOr(path, pos)).digest('hex');
});

// ---- files
function readFileOr(path: string, pos: Pos | null): Buffer {
  const host = hostPathOf(path); // realises a store path first (import from derivation)
  try { return readFileSync(host); } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'No such file or directory' : err.code === 'EISDIR' ? 'Is a directory' : err.code === 'EACCES' ? 'Permission denied' : err.message;
    throw new NixEvalError(`opening file '${path}': ${why}`, pos);
  }
}
prim('readFile', 1, (pos, p) => {
  const ctx = new Set<string>();
  const path = coerceToPath(force(p!), ctx, pos);
  checkReadContext(ctx);
  const bytes = readFileOr(path, pos);
  // Nix strings are C strings.
  if (bytes.includes(0)) throw new NixEvalError(`the contents of the file '${path}' cannot be represented as a Nix string`, pos);
  return mkString(bytes.toString('utf8'), ctx);
});
prim('pathExists', 1, (pos, p) => {
  const ctx = new Set<string>();
  const path = coerceToPath(force(p!), ctx, pos);
  checkReadContext(ctx);
  const hp = hostPathOf(path);
  try { lstatSync(hp); return true; } catch { return existsSync(hp); }
});
prim('readDir', 1, (pos, p) => {
  const ctx = new Set<string>();
  const path = coerceToPath(force(p!), ctx, pos);
  checkReadContext(ctx);
  let ents;
  const host = hostPathOf(path);
  try { ents = readdirSync(host, { withFileTypes: true }); } catch (e) {
    throw new NixEvalError(`opening directory '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`, pos);
  }
  const m = new Map<string, Lazy>();
  for (const d of ents) m.set(d.name, d.isDirectory() ? 'directory' : d.isSymbolicLink() ? 'symlink' : d.isFile() ? 'regular' : 'unknown');
  return new NixAttrs(m);
});
prim('getEnv', 1, (pos, n) => process.env[forceStringNoCtx(n!, pos)] ?? '');
prim('import', 1, (pos, p) => {
  const x = force(p!);
  if (x instanceof NixAttrs && isDerivation(x)) {
    const op = x.map.get('outPath');
    if (op !== undefined) {
      const ctx = new Set<string>();
      const path = coerceToString(force(op), ctx, false, false, pos);
      checkReadContext(ctx);
      return host!.importFile(path, null, pos);
    }
  }
  const ctx = new Set<string>();
  const path = coerceToPath(x, ctx, pos);
  checkReadContext(ctx);
  return host!.importFile(path, null, pos);
}, true);
prim('scopedImport', 2, (pos, s, p) => {
  const scope = forceAttrs(s!, pos);
  const ctx = new Set<string>();
  const path = coerceToPath(force(p!), ctx, pos);
  checkReadContext(ctx);
  return host!.importFile(path, scope, pos);
}, true);
prim('findFile', 2, (pos, sp, n) => {
  const name = forceStringNoCtx(n!, pos);
  for (const e of forceList(sp!, pos)) {
    const a = forceAttrs(e, pos);
    const prefixV = a.map.get('prefix'), pathV = a.map.get('path');
    const prefix = prefixV === undefined ? '' : forceStringNoCtx(prefixV, pos);
    if (pathV === undefined) throw new NixEvalError(`attribute 'path' missing`, pos);
    let base = coerceToString(force(pathV), new Set(), false, false, pos);
    if (!base.startsWith('/')) base = `${process.cwd()}/${base}`;
    let rest: string;
    if (prefix === '') rest = name;
    else if (name === prefix) rest = '';
    else if (name.startsWith(prefix + '/')) rest = name.slice(prefix.length + 1);
    else continue;
    const full = rest === '' ? base : `${base}/${rest}`;
    if (existsSync(hostPathOf(full)) || (full.startsWith(COREPKGS_DIR + '/') && COREPKGS[full.slice(COREPKGS_DIR.length + 1)] !== undefined)) return new NixPath(canonPath(full));
  }
  if (name.startsWith('nix/') && COREPKGS[name.slice(4)] !== undefined) return new NixPath(`${COREPKGS_DIR}/${name.slice(4)}`);
  throw new NixThrownError(`file '${name}' was not found in the Nix search path (add it using $NIX_PATH or -I)`, pos);
});
prim('toFile', 2, (pos, n, s) => {
  void n; void s;
  throw new NixEvalError(`'builtins.toFile' needs a store, which this evaluation does not have`, pos);
});
prim('filterSource', 2, (pos, _u0, p) => { void p; throw new NixEvalError(`'builtins.filterSource' needs a store, which this evaluation does not have`, pos); });
prim('path', 1, (pos) => { throw new NixEvalError(`'builtins.path' needs a store, which this evaluation does not have`, pos); });
prim('storePath', 1, (pos, p) => {
  const ctx = new Set<string>();
  const s = canonPath(coerceToPath(force(p!), ctx, pos));
  // Nix resolves symlinks first, so a missing component is reported as such.
  const comps = s.split('/').filter((c) => c !== '');
  for (let i = 1; i <= comps.length; i++) {
    const prefix = '/' + comps.slice(0, i).join('/');
    try { lstatSync(hostPathOf(prefix)); } catch { throw new NixEvalError(`getting status of '${prefix}': No such file or directory`, pos); }
  }
  if (!s.startsWith('/nix/store/')) throw new NixEvalError(`path '${s}' is not in the Nix store`, pos);
  const sp = s.split('/').slice(0, 4).join('/');
  if (!existsSync(hostPathOf(sp))) throw new NixEvalError(`path '${sp}' is not valid`, pos);
  ctx.add(sp);
  return mkString(s, ctx);
});
prim('placeholder', 1, (pos, n) => {
  const name = forceStringNoCtx(n!, pos);
  const h = createHash('sha256').update(`nix-output:${name}`).digest();
  return '/' + nixBase32(h);
}, true);
for (const f of ['fetchGit', 'fetchMercurial', 'fetchTarball', 'fetchTree', 'fetchurl']) {
  prim(f, 1, (pos) => { throw new NixEvalError(`'builtins.${f}' needs the network and a store, which this evaluation does not have`, pos); }, f !== 'fetchurl');
}
prim('derivationStrict', 1, (pos) => { throw new NixEvalError(`'derivationStrict' needs the derivation support (eval/derivation), which is not registered`, pos); }, true);

export function nixBase32(h: Buffer): string {
  const chars = '0123456789abcdfghijklmnpqrsvwxyz';
  const len = Math.ceil((h.length * 8) / 5);
  let out = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5, i = b >> 3, j = b & 7;
    const c = ((h[i]! >> j) | (i + 1 < h.length ? h[i + 1]! << (8 - j) : 0)) & 0x1f;
    out += chars[c];
  }
  return out;
}

export { EMPTY_CTX, Thunk, copyPathToStore, forceFunction, hooks, statSync };
