// Core evaluation operations: forcing, calling, coercions, equality, arithmetic. The AST nodes
// (ast.ts) and the builtins call these. One EvalState per process/thread (set by Evaluator).
import { ExprLambda, frame1, frameN, type Env, type Expr } from './ast.js';
import { NixEvalError, showTrace, sourceText, type Pos } from './errors.js';
import { canonPath } from './paths.js';
import { formatFloatFixed } from './print.js';
import {
  Lambda, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Thunk, ThunkState, mkAttrs, mkString, showType,
  callPrimOp, compareNames, intAdd, intDiv, intMul, intSub, type Lazy, type NixInt, type Value,
} from './values.js';

/** How path values reach the store when coerced to strings (`"${./foo}"`); absent → an error. */
export interface StoreAdapter {
  /** Copies a filesystem path into the store (as Nix's copyPathToStore) and returns its store path. */
  copyPathToStore(fsPath: string): string;
  /** The store directory, e.g. /nix/store. */
  readonly storeDir: string;
}

export interface EvalHooks {
  store: StoreAdapter | null;
  /** Paths already copied, fsPath → store path (Nix's srcToStore). */
  srcToStore: Map<string, string>;
}

export const hooks: EvalHooks = { store: null, srcToStore: new Map() };

let heapCheck: (() => void) | null = null;
let heapTicks = 0;
/** Installs a check run every 2^18 thunk evaluations (it may throw to abandon the evaluation). */
export function setHeapCheck(f: (() => void) | null): void { heapCheck = f; heapTicks = 0; }

export function forceThunk(t: Thunk): Value {
  if (t.state === ThunkState.Done) return t.value;
  if (heapCheck !== null && (++heapTicks & 0x3ffff) === 0) heapCheck();
  const state = t.state;
  if (state === ThunkState.Running) throw new NixEvalError('infinite recursion encountered', t.expr !== null ? t.expr.pos ?? null : null);
  t.state = ThunkState.Running;
  try {
    const v = state === ThunkState.Pending ? t.expr!.eval(t.env!)
      : state === ThunkState.PendingApp ? callFunction(force(t.value as Lazy), t.env as unknown as Lazy, t.expr as unknown as Pos | null)
      : state === ThunkState.PendingApp2 ? call2(force(t.value as Lazy), t.expr as unknown as Lazy, t.env as unknown as Lazy, null)
      : (t.value as unknown as () => Value)();
    t.value = v;
    t.state = ThunkState.Done;
    t.expr = null; t.env = null;
    return v;
  } catch (e) {
    t.state = state;
    throw e;
  }
}

export function force(v: Lazy): Value {
  return v instanceof Thunk ? forceThunk(v) : v;
}

/** A lazily computed value from native code (builtins' lazy results, e.g. map's elements). */
export function lazyNative(f: () => Value): Thunk {
  return new Thunk(null, null, f);
}

export function typeError(expected: string, v: Value, pos: Pos | null): NixEvalError {
  return new NixEvalError(`value is ${showType(v)} while ${expected} was expected`, pos);
}

/** Nix's Value::determinePos: a set literal's or a function's position, else `pos`. */
export function determinePos(v: Value, pos: Pos | null): Pos | null {
  if (v instanceof NixAttrs) return v.litPos;
  if (v instanceof Lambda) return v.fn.pos;
  return pos;
}

export function missingAttr(name: string, attrs: NixAttrs, pos: Pos | null): NixEvalError {
  return new NixEvalError(`attribute '${name}' missing`, pos, 'E_EVAL', suggest(name, [...attrs.map.keys()]));
}

/** Nix's "Did you mean …?" hint (names within edit distance 2, sorted by distance then name). */
export function suggest(name: string, candidates: string[]): string {
  const scored = candidates.map((c) => ({ c, d: levenshtein(name, c) })).filter((x) => x.d <= 2);
  scored.sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : a.c > b.c ? 1 : 0));
  const top = scored.slice(0, 10).map((x) => x.c);
  if (top.length === 0) return '';
  if (top.length === 1) return `Did you mean ${top[0]}?`;
  return `Did you mean one of ${top.slice(0, -1).join(', ')} or ${top[top.length - 1]}?`;
}

function levenshtein(a: string, b: string): number {
  const m = a.length, n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[n]!;
}

export function forceAttrs(v: Lazy, pos: Pos | null): NixAttrs {
  const x = force(v);
  if (x instanceof NixAttrs) return x;
  throw typeError('a set', x, pos);
}
export function forceAttrsValue(x: Value, pos: Pos | null): NixAttrs {
  if (x instanceof NixAttrs) return x;
  throw typeError('a set', x, pos);
}
export function forceList(v: Lazy, pos: Pos | null): Lazy[] {
  const x = force(v);
  if (Array.isArray(x)) return x;
  throw typeError('a list', x, pos);
}
export function forceListValue(x: Value, pos: Pos | null): Lazy[] {
  if (Array.isArray(x)) return x;
  throw typeError('a list', x, pos);
}
export function forceBoolValue(x: Value, pos: Pos | null): boolean {
  if (typeof x === 'boolean') return x;
  throw typeError('a Boolean', x, pos);
}
export function forceBool(v: Lazy, pos: Pos | null): boolean {
  return forceBoolValue(force(v), pos);
}
export function forceInt(v: Lazy, pos: Pos | null): NixInt {
  const x = force(v);
  if (typeof x === 'number' || typeof x === 'bigint') return x;
  throw typeError('an integer', x, pos);
}
/** A float or an int as a JS number (Nix's forceFloat). */
export function forceFloat(v: Lazy, pos: Pos | null): number {
  const x = force(v);
  if (x instanceof NixFloat) return x.v;
  if (typeof x === 'number') return x;
  if (typeof x === 'bigint') return Number(x);
  throw typeError('a float', x, pos);
}
export function forceFunction(v: Lazy, pos: Pos | null): Value {
  const x = force(v);
  if (x instanceof Lambda || x instanceof PrimOp || x instanceof PrimOpApp || (x instanceof NixAttrs && x.has('__functor'))) return x;
  throw typeError('a function', x, pos);
}
export function forceString(v: Lazy, pos: Pos | null): string | NixString {
  const x = force(v);
  if (typeof x === 'string' || x instanceof NixString) return x;
  throw typeError('a string', x, pos);
}
/** The string's characters; its context, if any, is added to `ctx`. */
export function forceStringCtx(v: Lazy, ctx: Set<string>, pos: Pos | null): string {
  const x = forceString(v, pos);
  if (typeof x === 'string') return x;
  for (const c of x.ctx) ctx.add(c);
  return x.s;
}
export function forceStringNoCtxValue(x: Value, pos: Pos | null): string {
  if (typeof x === 'string') return x;
  if (x instanceof NixString) {
    const first = [...x.ctx][0]!;
    throw new NixEvalError(`the string '${x.s}' is not allowed to refer to a store path (such as '${first.replace(/^=|^![^!]*!/, '')}')`, pos);
  }
  throw typeError('a string', x, pos);
}
export function forceStringNoCtx(v: Lazy, pos: Pos | null): string {
  return forceStringNoCtxValue(force(v), pos);
}

export function callFunction(f: Value, arg: Lazy, pos: Pos | null): Value {
  if (f instanceof Lambda) {
    // The common case written out here, as in call2 (below) and the AST's hot paths: while the
    // code is not yet optimised, every JS call costs, and most evaluations are short.
    const fn = f.fn;
    if (fn.formals === null && !showTrace) return fn.reusable ? callSpare(fn, f.env, arg) : fn.body.eval([f.env, arg]);
    return callLambda(f, arg, pos);
  }
  if (f instanceof PrimOp) {
    if (f.arity === 1) return f.fn(pos, arg, undefined!, undefined!);
    return new PrimOpApp(f, [arg]);
  }
  if (f instanceof PrimOpApp) {
    const n = f.args.length + 1;
    if (n === f.op.arity) {
      if (n === 2) return f.op.fn(pos, f.args[0]!, arg, undefined!);
      if (n === 3) return f.op.fn(pos, f.args[0]!, f.args[1]!, arg);
      return callPrimOp(f.op, f.args.concat([arg]), pos);
    }
    const args = f.args.concat([arg]);
    return new PrimOpApp(f.op, args);
  }
  if (f instanceof NixAttrs) {
    const functor = f.get('__functor');
    if (functor !== undefined) return callFunction(callFunction(force(functor), f, pos), arg, pos);
  }
  throw new NixEvalError(`attempt to call something which is not a function but ${showType(f)}`, pos);
}

/**
 * f a b. A two-argument primop is called directly, and a lambda `a: b: body` binds both
 * arguments without making the intermediate function (unseen but for --show-trace's frames).
 */
export function call2(f: Value, a: Lazy, b: Lazy, pos: Pos | null): Value {
  if (f instanceof Lambda) {
    const fn = f.fn, inner = fn.body;
    if (fn.formals === null && inner instanceof ExprLambda && inner.formals === null && !showTrace) {
      return inner.reusable ? callSpare2(inner, f.env, a, b) : inner.body.eval([[f.env, a], b]);
    }
  } else if (f instanceof PrimOp && f.arity === 2) return f.fn(pos, a, b, undefined!);
  return callFunction(callFunction(f, a, pos), b, pos);
}

/**
 * The body of `fn` (reusable: see ExprLambda) evaluated with `arg` in a frame under `up`: its spare
 * frame when no call of it is under way, else a new one (a recursive call). Nothing keeps the frame
 * after the body's evaluation, so it is then the spare again; cleared, so as not to keep `arg` alive.
 * After an exception the frame is dropped (the next call makes one).
 */
export function callSpare(fn: ExprLambda, up: Env, arg: Lazy): Value {
  let fr = fn.spare;
  if (fr === null) fr = [up, arg];
  else { fn.spare = null; fr[0] = up; fr[1] = arg; }
  const v = fn.body.eval(fr);
  fr[0] = null; fr[1] = null;
  fn.spare = fr;
  return v;
}

/** callSpare for call2: the body of `inner` (reusable), of the lambda `a: inner`, with its frames `[[up, a], b]`. */
export function callSpare2(inner: ExprLambda, up: Env, a: Lazy, b: Lazy): Value {
  let fr = inner.spare2;
  if (fr === null) fr = [[up, a], b];
  else { inner.spare2 = null; const o = fr[0] as Env; o[0] = up; o[1] = a; fr[1] = b; }
  const v = inner.body.eval(fr);
  const o = fr[0] as Env;
  o[0] = null; o[1] = null; fr[1] = null;
  inner.spare2 = fr;
  return v;
}

/** The body of a lambda `a: b: body` that call2 binds directly, else null (the frames it needs: `[[f.env, a], b]`). */
export function body2(f: Value): Expr | null {
  if (!(f instanceof Lambda) || showTrace) return null;
  const fn = f.fn, inner = fn.body;
  return fn.formals === null && inner instanceof ExprLambda && inner.formals === null ? inner.body : null;
}

/** Calls with several arguments (curried). */
export function callN(f: Value, args: Lazy[], pos: Pos | null): Value {
  let r = f;
  for (const a of args) r = callFunction(r, a, pos);
  return r;
}

function callLambda(f: Lambda, arg: Lazy, pos: Pos | null): Value {
  const fn: ExprLambda = f.fn;
  const formals = fn.formals;
  if (formals === null) return showTrace ? bodyTraced(fn, frame1(f.env, arg), pos) : fn.body.eval(frame1(f.env, arg));
  const attrs = forceAttrs(arg, pos);
  const n = formals.length;
  const env = frameN(f.env, n + (fn.arg !== null ? 1 : 0));
  let used = 0;
  for (let i = 0; i < n; i++) {
    const fm = formals[i]!;
    const a = attrs.get(fm.name);
    if (a === undefined) {
      if (fm.def === null) throw new NixEvalError(`${fn.describe()} called without required argument '${fm.name}'`, pos);
      env[i + 1] = fm.def.lazy(env);
    } else { used++; env[i + 1] = a; }
  }
  if (fn.arg !== null) env[n + 1] = arg;
  if (!fn.ellipsis && used !== attrs.size) {
    const names = new Set(formals.map((x) => x.name));
    for (const k of attrs.sortedNames()) {
      if (!names.has(k)) throw new NixEvalError(`${fn.describe()} called with unexpected argument '${k}'`, pos, 'E_EVAL', suggest(k, [...names]));
    }
  }
  return showTrace ? bodyTraced(fn, env, pos) : fn.body.eval(env);
}

/** With --show-trace, Nix adds the function and its call site to the trace of an error in the body. */
function bodyTraced(fn: ExprLambda, env: Env, pos: Pos | null): Value {
  try {
    return fn.body.eval(env);
  } catch (e) {
    if (e instanceof NixEvalError) {
      e.addTrace(fn.pos, `while evaluating ${fn.name !== null ? `'${fn.name}'` : 'anonymous lambda'}`);
      e.addTrace(pos, 'from call site');
    }
    throw e;
  }
}

export function isDerivation(v: Value): boolean {
  if (!(v instanceof NixAttrs)) return false;
  const t = v.get('type');
  if (t === undefined) return false;
  const tv = force(t);
  return (typeof tv === 'string' ? tv : tv instanceof NixString ? tv.s : null) === 'derivation';
}

export function eqValues(a: Value, b: Value, pos: Pos | null): boolean {
  if (typeof a === 'number' || typeof a === 'bigint') {
    if (typeof b === 'number' || typeof b === 'bigint') return a === b; // normalised: same value, same type
    if (b instanceof NixFloat) return Number(a) === b.v;
    return false;
  }
  if (a instanceof NixFloat) {
    if (b instanceof NixFloat) return a.v === b.v;
    if (typeof b === 'number' || typeof b === 'bigint') return a.v === Number(b);
    return false;
  }
  if (typeof a === 'string' || a instanceof NixString) {
    if (typeof b === 'string' || b instanceof NixString) return (typeof a === 'string' ? a : a.s) === (typeof b === 'string' ? b : b.s);
    return false;
  }
  if (typeof a === 'boolean' || a === null) return a === b;
  if (a instanceof NixPath) return b instanceof NixPath && a.path === b.path;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!, y = b[i]!;
      if (x === y) continue;
      if (!eqValues(force(x), force(y), pos)) return false;
    }
    return true;
  }
  if (a instanceof NixAttrs) {
    if (!(b instanceof NixAttrs)) return false;
    if (isDerivation(a) && isDerivation(b)) {
      const i = a.get('outPath'), j = b.get('outPath');
      if (i !== undefined && j !== undefined) return eqValues(force(i), force(j), pos);
    }
    if (a.size !== b.size) return false;
    for (const k of a.sortedNames()) {
      const y = b.map.get(k);
      if (y === undefined) return false;
      const x = a.map.get(k)!;
      if (x === y) continue;
      if (!eqValues(force(x), force(y), pos)) return false;
    }
    return true;
  }
  return false;
}

export function arith(op: string, a: Value, b: Value, pos: Pos | null): Value {
  if (op === '<') return lessThan(a, b, pos);
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    switch (op) {
      case '-': return intSub(a, b);
      case '*': return intMul(a, b);
      case '/':
        if (b === 0) throw new NixEvalError('division by zero', pos);
        return intDiv(a, b);
    }
  }
  if (a instanceof NixFloat || b instanceof NixFloat) {
    const x = forceFloat(a, pos), y = forceFloat(b, pos);
    switch (op) {
      case '-': return new NixFloat(x - y);
      case '*': return new NixFloat(x * y);
      case '/':
        if (y === 0) throw new NixEvalError('division by zero', pos);
        return new NixFloat(x / y);
    }
  }
  forceInt(a, pos);
  forceInt(b, pos);
  throw new Error('unreachable');
}

export function lessThan(a: Value, b: Value, pos: Pos | null): boolean {
  if (typeof a === 'number' || typeof a === 'bigint') {
    if (typeof b === 'number' || typeof b === 'bigint') return a < b; // exact across number/bigint
    if (b instanceof NixFloat) return Number(a) < b.v;
  } else if (a instanceof NixFloat) {
    if (b instanceof NixFloat) return a.v < b.v;
    if (typeof b === 'number' || typeof b === 'bigint') return a.v < Number(b);
  } else if ((typeof a === 'string' || a instanceof NixString) && (typeof b === 'string' || b instanceof NixString)) {
    const x = typeof a === 'string' ? a : a.s, y = typeof b === 'string' ? b : b.s;
    return compareNames(x, y) < 0;
  } else if (a instanceof NixPath && b instanceof NixPath) {
    return compareNames(a.path, b.path) < 0;
  } else if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; ; i++) {
      if (i === b.length) return false;
      if (i === a.length) return true;
      const x = force(a[i]!), y = force(b[i]!);
      if (!eqValues(x, y, pos)) return lessThan(x, y, pos);
    }
  }
  throw new NixEvalError(`cannot compare ${showType(a)} with ${showType(b)}`, pos);
}


/** Nix's coerceToString. Context of the result is added to `ctx`. */
export function coerceToString(v: Value, ctx: Set<string>, coerceMore: boolean, copyToStore: boolean, pos: Pos | null, canonicalize = true): string {
  if (typeof v === 'string') return v;
  if (v instanceof NixString) { for (const c of v.ctx) ctx.add(c); return v.s; }
  if (v instanceof NixPath) {
    const p = canonicalize ? canonPath(v.path) : v.path;
    return copyToStore ? copyPathToStore(p, ctx, pos) : p;
  }
  if (v instanceof NixAttrs) {
    const ts = v.get('__toString');
    if (ts !== undefined) {
      const r = callFunction(force(ts), v, pos);
      return coerceToString(r, ctx, coerceMore, copyToStore, pos);
    }
    const op = v.get('outPath');
    if (op === undefined) throw new NixEvalError('cannot coerce a set to a string', pos);
    return coerceToString(force(op), ctx, coerceMore, copyToStore, pos);
  }
  if (coerceMore) {
    if (v === true) return '1';
    if (v === false || v === null) return '';
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    if (v instanceof NixFloat) return formatFloatFixed(v.v);
    if (Array.isArray(v)) {
      let out = '';
      for (let i = 0; i < v.length; i++) {
        const e = force(v[i]!);
        out += coerceToString(e, ctx, coerceMore, copyToStore, pos);
        if (i < v.length - 1 && (!Array.isArray(e) || e.length !== 0)) out += ' ';
      }
      return out;
    }
  }
  throw new NixEvalError(`cannot coerce ${showType(v)} to a string`, pos);
}

export function copyPathToStore(p: string, ctx: Set<string>, pos: Pos | null): string {
  let sp = hooks.srcToStore.get(p);
  if (sp === undefined) {
    if (hooks.store === null) throw new NixEvalError(`cannot copy '${p}' to the store: no store is available to this evaluation`, pos);
    sp = hooks.store.copyPathToStore(p);
    hooks.srcToStore.set(p, sp);
  }
  ctx.add(sp);
  return sp;
}

/** Nix's coerceToPath: an absolute path string (with context added to ctx). */
export function coerceToPath(v: Value, ctx: Set<string>, pos: Pos | null): string {
  const s = coerceToString(v, ctx, false, false, pos);
  if (s === '' || s[0] !== '/') throw new NixEvalError(`string '${s}' doesn't represent an absolute path`, pos);
  return s;
}

/** `+` on strings/paths and string interpolation (Nix's ExprConcatStrings). `first` is the first part, already evaluated, when not forceString. */
export function concatStrings(first: Value | undefined, parts: Expr[], env: Env, forceString: boolean, pos: Pos | null): Value {
  // Strings without context, the common case, need no context set and no coercion.
  let s = '';
  for (let i = 0; i < parts.length; i++) {
    const v = i === 0 && first !== undefined ? first : parts[i]!.eval(env);
    if (typeof v !== 'string') return concatFrom(i, v, s, parts, env, forceString, pos);
    s += v;
  }
  return s;
}

/** concatStrings from part `start` (its value `v0`) on, the parts before it being the plain strings `s0`. */
export function concatFrom(start: number, v0: Value, s0: string, parts: Expr[], env: Env, forceString: boolean, pos: Pos | null): Value {
  const ctx = new Set<string>();
  let firstType: 'string' | 'path' | 'int' | 'float' = 'string';
  let n: NixInt = 0, nf = 0, s = s0;
  for (let i = start; i < parts.length; i++) {
    const v = i === start ? v0 : parts[i]!.eval(env);
    const isFirst = i === 0 && !forceString;
    if (isFirst) {
      firstType = typeof v === 'number' || typeof v === 'bigint' ? 'int' : v instanceof NixFloat ? 'float' : v instanceof NixPath ? 'path' : 'string';
    }
    const ppos = parts[i]!.pos ?? pos;
    if (firstType === 'int') {
      if (typeof v === 'number' || typeof v === 'bigint') n = intAdd(n, v);
      else if (v instanceof NixFloat) { firstType = 'float'; nf = Number(n) + v.v; }
      else throw new NixEvalError(`cannot add ${showType(v)} to an integer`, ppos);
    } else if (firstType === 'float') {
      if (typeof v === 'number' || typeof v === 'bigint') nf += Number(v);
      else if (v instanceof NixFloat) nf += v.v;
      else throw new NixEvalError(`cannot add ${showType(v)} to a float`, ppos);
    } else {
      s += coerceToString(v, ctx, false, firstType === 'string', ppos, !isFirst);
    }
  }
  if (firstType === 'int') return n;
  if (firstType === 'float') return new NixFloat(nf);
  if (firstType === 'path') {
    if (ctx.size > 0) throw new NixEvalError('a string that refers to a store path cannot be appended to a path', pos);
    return new NixPath(canonPath(s));
  }
  return mkString(s, ctx);
}

export function posToAttrs(pos: Pos | null): Value {
  if (pos === null) return null;
  // For «string» origins Nix 2.8 gives the source text as the file.
  const file = pos.origin.startsWith('«') ? sourceText(pos.origin) ?? pos.origin : pos.origin;
  return mkAttrs({ file, line: pos.line, column: pos.col });
}

export { mkAttrs };
export type { Env };
