// The evaluator's value model. Chosen for speed: plain JS values where possible.
//   int → number when a safe integer (|n| < 2^53), bigint otherwise (64-bit, wrapped with
//         BigInt.asIntN as Nix's int64_t); always normalised, so equal ints have the same JS type
//   float → NixFloat (boxed: floats are rare, ints are everywhere)
//   bool → boolean   null → null   string without context → string
//   string with context → NixString   path → NixPath   list → Lazy[] (JS array)
//   attrset → NixAttrs   function → Lambda | PrimOp | PrimOpApp
// A Lazy is a Value or a Thunk; forcing a Thunk updates it in place (call-by-need), so every holder
// of the same Thunk sees the value, as Nix's shared Value* do.
import type { Env, ExprLambda, Expr, Pos } from './ast.js';

export type Value = NixInt | NixFloat | boolean | null | string | NixString | NixPath | Lazy[] | NixAttrs | Lambda | PrimOp | PrimOpApp;
export type Lazy = Value | Thunk;

/** A Nix integer: a JS number when Number.isSafeInteger, else a bigint in the int64 range. */
export type NixInt = number | bigint;

export class NixFloat {
  constructor(readonly v: number) {}
}

export function isInt(v: Value): v is NixInt {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** A 64-bit wrapped, normalised int from a bigint. */
export function mkInt(b: bigint): NixInt {
  if (b >= -0x1fffffffffffffn && b <= 0x1fffffffffffffn) return Number(b);
  const w = BigInt.asIntN(64, b);
  return w >= -0x1fffffffffffffn && w <= 0x1fffffffffffffn ? Number(w) : w;
}

/** An int from a JS integer-valued number of any size (as C++'s conversion of an in-range double). */
export function intFromNumber(n: number): NixInt {
  return Number.isSafeInteger(n) ? n + 0 : mkInt(BigInt(n));
}

export function intToBigInt(v: NixInt): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

export function intAdd(a: NixInt, b: NixInt): NixInt {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (r <= 0x1fffffffffffff && r >= -0x1fffffffffffff) return r;
  }
  return mkInt(intToBigInt(a) + intToBigInt(b));
}

export function intSub(a: NixInt, b: NixInt): NixInt {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (r <= 0x1fffffffffffff && r >= -0x1fffffffffffff) return r;
  }
  return mkInt(intToBigInt(a) - intToBigInt(b));
}

export function intMul(a: NixInt, b: NixInt): NixInt {
  if (typeof a === 'number' && typeof b === 'number') {
    // A rounded product inside the safe range is exact (the exact one would round to >= 2^53 otherwise).
    const r = a * b;
    if (r <= 0x1fffffffffffff && r >= -0x1fffffffffffff) return r + 0;
  }
  return mkInt(intToBigInt(a) * intToBigInt(b));
}

/** Truncating division; b must not be 0. */
export function intDiv(a: NixInt, b: NixInt): NixInt {
  if (typeof a === 'number' && typeof b === 'number') return (a - a % b) / b + 0;
  return mkInt(intToBigInt(a) / intToBigInt(b));
}

/** String context element forms are Nix 2.8's: `/nix/store/…` (plain path), `=/nix/store/….drv` (all outputs of a .drv), `!out!/nix/store/….drv` (one output). */
export class NixString {
  constructor(readonly s: string, readonly ctx: ReadonlySet<string>) {}
}

export class NixPath {
  constructor(readonly path: string) {}
}

/** Where an attribute set's definition positions come from (cheap to attach: nothing is copied). */
export interface PosSource { get(name: string): Pos | { pos: Pos } | undefined }

export class NixAttrs {
  /**
   * Positions of attribute definitions (for unsafeGetAttrPos and XML), when known: own sources
   * first, then the sets this one was made from (`//`: right operand before left).
   */
  declare pos: PosSource | null;
  declare posFrom: NixAttrs[] | null;
  /** Where the attribute-set literal that made this set is (Nix's Bindings::pos); null otherwise. */
  declare litPos: Pos | null;
  /** The attributes; null while this set is indexed or layered (see indexed and update). */
  private declare m: Map<string, Lazy> | null;
  /** Indexed: the names and their positions in vals, from 1 (vals is laid out as a frame, see ast.ts's Env; keys is shared by every set an attribute-set literal makes, and by mapAttrs' results). */
  private declare keys: AttrKeys | null;
  private declare vals: Lazy[] | null;
  /** Layered (see update): flat or indexed sets from the bottom up, shared with the sets this one was made from. */
  private declare runs: NixAttrs[] | null;
  /** The sorted names of a flat set (see sortedNames). */
  private declare sorted: string[] | null;
  // The fields are declared, not initialised, and set here: initialisers would run as a separate
  // function defining each field, a cost per set while the code is not yet optimised.
  constructor(map: Map<string, Lazy>) {
    this.pos = null; this.posFrom = null; this.litPos = null;
    this.m = map; this.keys = null; this.vals = null; this.runs = null; this.sorted = null;
  }

  /**
   * `a // b`: a's sets with b on top, shared, not copied. From MIN_RUNS sets on, the top two are
   * merged into a new map while the upper one is at least half the size of the lower, as in a
   * binary counter: a lookup then tries O(log n) sets, and a fold of `acc // { … }` copies each
   * attribute O(log n) times (copying the whole set at each step, as Nix does, is quadratic).
   * Below MIN_RUNS nothing is copied: most `//` chains are short.
   */
  static update(a: NixAttrs, b: NixAttrs): NixAttrs {
    // The same names on both sides (an overlay's mapAttrs over its `super`): b's attributes, all of them.
    if (a.keys !== null && a.keys === b.keys) return b.copy();
    const below = a.runs ?? [a];
    let n = below.length;
    let top = b.runs !== null ? derived(b.map, [b]) : b;
    while (n >= MIN_RUNS && top.size * 2 >= below[n - 1]!.size) {
      const lower = below[--n]!;
      const m = new Map(lower.map);
      top.map.forEach((v, k) => { m.set(k, v); });
      top = derived(m, [top, lower]);
    }
    const runs: NixAttrs[] = new Array(n + 1);
    for (let i = 0; i < n; i++) runs[i] = below[i]!;
    runs[n] = top;
    // Positions come from the layers (see posOf): `a` and `b` themselves are not kept.
    const r = new NixAttrs(null!);
    r.m = null;
    r.runs = runs;
    return r;
  }

  /**
   * A set whose names are those of `keys` (non-empty), with values `vals[keys.slots.get(name)]`:
   * what a literal `{ … }` or `rec { … }` makes, without building a Map per evaluation.
   */
  static indexed(keys: AttrKeys, vals: Lazy[]): NixAttrs {
    const r = new NixAttrs(null!);
    r.m = null;
    r.keys = keys;
    r.vals = vals;
    return r;
  }

  /** The same attributes and positions, without the literal's position (Nix's `//` makes a new set). */
  private copy(): NixAttrs {
    const r = NixAttrs.indexed(this.keys!, this.vals!);
    r.pos = this.pos;
    r.posFrom = this.posFrom;
    return r;
  }

  /**
   * A set of the same names, the value of each `f(name, value)` (mapAttrs). An indexed set's
   * names are shared with the result, so that mapping again, `//` with the original (see update)
   * and sorting the names (see sortedNames) cost no Map.
   */
  mapValues(f: (name: string, v: Lazy) => Lazy): NixAttrs {
    if (this.vals === null) {
      const m = this.map;
      if (m.size === 0) return new NixAttrs(new Map());
      const slots = new Map<string, number>();
      const names: string[] = [];
      const vals: Lazy[] = [null];
      m.forEach((v, k) => { names.push(k); slots.set(k, vals.length); vals.push(f(k, v)); });
      return NixAttrs.indexed(new AttrKeys(slots, names), vals);
    }
    const src = this.vals, names = this.keys!.names, n = names.length;
    // Pushed, not preallocated: packed like the other sets' values, so that lookups see one array kind.
    const vals: Lazy[] = [null];
    for (let i = 0; i < n; i++) vals.push(f(names[i]!, src[i + 1]!));
    return NixAttrs.indexed(this.keys!, vals);
  }

  /** All attributes (flattening a layered set once). Never mutate it. */
  get map(): Map<string, Lazy> { return this.m ?? this.flatten(); }

  private flatten(): Map<string, Lazy> {
    if (this.vals !== null) {
      const m = new Map<string, Lazy>();
      const vals = this.vals, names = this.keys!.names;
      for (let i = 0; i < names.length; i++) m.set(names[i]!, vals[i + 1]!);
      this.m = m;
      this.keys = null;
      this.vals = null;
      return m;
    }
    const runs = this.runs!;
    const m = new Map(runs[0]!.map);
    for (let i = 1; i < runs.length; i++) runs[i]!.map.forEach((v, k) => { m.set(k, v); });
    this.m = m;
    this.runs = null;
    this.posFrom = runs.reverse();
    return m;
  }

  /** Where attribute `name` was defined, if known. */
  posOf(name: string): Pos | undefined {
    const p = this.pos?.get(name);
    if (p !== undefined) return 'pos' in p && typeof p.pos === 'object' && p.pos !== null && 'line' in p.pos ? p.pos : p as Pos;
    const from = this.runs !== null ? this.runs.slice().reverse() : this.posFrom;
    if (from) for (const a of from) { if (a.has(name)) return a.posOf(name); }
    return undefined;
  }
  get(name: string): Lazy | undefined {
    const m = this.m;
    if (m !== null) return m.get(name);
    return this.vals !== null ? this.getIndexed(name) : this.getLayered(name);
  }
  private getIndexed(name: string): Lazy | undefined {
    const i = this.keys!.slots.get(name);
    return i === undefined ? undefined : this.vals![i];
  }
  private getLayered(name: string): Lazy | undefined {
    const runs = this.runs!;
    for (let i = runs.length - 1; i >= 0; i--) {
      const r = runs[i]!;
      const v = r.m !== null ? r.m.get(name) : r.getIndexed(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  has(name: string): boolean { return this.get(name) !== undefined; }
  /** Whether the set has no attributes (without flattening: a layered set is never empty). */
  isEmpty(): boolean { return this.m !== null && this.m.size === 0; }
  /** The number of attributes (without flattening an indexed set). */
  get size(): number { return this.vals !== null ? this.vals.length - 1 : this.map.size; }
  /** Names sorted as Nix 2.8 orders attributes (byte order of the UTF-8 names). A fresh array. */
  sortedNames(): string[] {
    // Kept: attrNames, printing and comparison of one set each sort it again otherwise.
    // The size check guards against a set completed after a first call (builtins, see defineGlobal).
    if (this.keys !== null) return this.keys.sortedNames();
    let s = this.sorted;
    if (s === null || s.length !== this.size) this.sorted = s = sortNames([...this.map.keys()]);
    return s.slice();
  }
}

/** The names of indexed sets (see NixAttrs.indexed), shared by the sets of one literal or of a mapAttrs chain. */
export class AttrKeys {
  private sorted: string[] | null = null;
  /** `slots`: name → position in the values (from 1); `names`: the names in slot order. */
  constructor(readonly slots: Map<string, number>, readonly names: string[]) {}
  /** The names in Nix's order (see NixAttrs.sortedNames): sorted once for all the sets sharing them. A fresh array. */
  sortedNames(): string[] {
    return (this.sorted ??= sortNames(this.names.slice())).slice();
  }
}

/** A set of the attributes `m`, positioned as the first of `from` that has each. */
function derived(m: Map<string, Lazy>, from: NixAttrs[]): NixAttrs {
  const r = new NixAttrs(m);
  r.posFrom = from;
  return r;
}

/** Sets a `//` chain has before any is merged (see NixAttrs.update). */
const MIN_RUNS = 4;

/** `names` sorted in place as Nix 2.8 orders attributes: by the bytes of their UTF-8 encodings. */
export function sortNames(names: string[]): string[] {
  // Without characters from U+D800 on, UTF-16 order (the default sort's, native: 10x faster than
  // a comparator while cold) is byte order; one test of all the names joined is cheaper than one each.
  return /[\ud800-\uffff]/.test(names.join('')) ? names.sort(compareNames) : names.sort();
}

/** Byte order of the UTF-8 encodings (as C++ std::string comparison). */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (astral chars) sort above all BMP chars in UTF-8.
      const xs = x >= 0xd800 && x <= 0xdfff, ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x - y;
    }
  }
  return a.length - b.length;
}

export class Lambda {
  // Declared and set in the constructor (see NixAttrs' constructor).
  declare readonly fn: ExprLambda;
  declare readonly env: Env;
  constructor(fn: ExprLambda, env: Env) { this.fn = fn; this.env = env; }
}

/**
 * A primop's implementation: the call's position, then its `arity` arguments, unforced (it forces
 * what it needs). Positional rather than an array: no array per call, no destructuring.
 */
export type PrimFn = (pos: Pos | null, a: Lazy, b: Lazy, c: Lazy, ...more: Lazy[]) => Value;

/** A builtin function of `arity` arguments. */
export class PrimOp {
  constructor(readonly name: string, readonly arity: number, readonly fn: PrimFn) {}
}

/** Calls a primop with all its arguments. */
export function callPrimOp(op: PrimOp, args: Lazy[], pos: Pos | null): Value {
  switch (args.length) {
    case 1: return op.fn(pos, args[0]!, undefined!, undefined!);
    case 2: return op.fn(pos, args[0]!, args[1]!, undefined!);
    case 3: return op.fn(pos, args[0]!, args[1]!, args[2]!);
    default: return op.fn(pos, args[0]!, args[1]!, args[2]!, ...args.slice(3));
  }
}

/** A primop applied to fewer arguments than its arity. */
export class PrimOpApp {
  declare readonly op: PrimOp;
  declare readonly args: Lazy[];
  constructor(op: PrimOp, args: Lazy[]) { this.op = op; this.args = args; }
}

export const enum ThunkState {
  Pending, Running, Done,
  /** A lazy application, see appThunk. */ PendingApp,
  /** See appThunk2. */ PendingApp2,
  /** A native computation, held in `value` until forced (see Thunk). */ PendingNative,
}

export class Thunk {
  // Declared and set in the constructor (see NixAttrs' constructor).
  declare expr: Expr | null;
  declare env: Env | null;
  declare state: ThunkState;
  declare value: Value;
  /**
   * Either an expression in an environment, or a native computation (for builtins' lazy results),
   * kept in `value` until forced: no field of its own, thunks being the most numerous objects.
   */
  constructor(expr: Expr | null, env: Env | null, native: (() => Value) | null = null) {
    this.expr = expr;
    this.env = env;
    if (native !== null) { this.state = ThunkState.PendingNative; this.value = native as unknown as Value; }
    else { this.state = ThunkState.Pending; this.value = null; }
  }
}

/**
 * The lazy application `f arg` (Nix's mkApp), as one small object rather than a thunk plus a
 * closure: until forced, `value` holds f, `env` the argument and `expr` the call's position.
 * builtins.genList and map make one per element.
 */
export function appThunk(f: Lazy, arg: Lazy, pos: Pos | null): Thunk {
  const t = new Thunk(pos as unknown as Expr | null, arg as unknown as Env | null);
  t.value = f as Value;
  t.state = ThunkState.PendingApp;
  return t;
}

/**
 * The lazy application `f a b`, called without a position (mapAttrs' and zipAttrsWith's values):
 * one object for Nix's two mkApp. Until forced, `value` holds f, `expr` a and `env` b.
 */
export function appThunk2(f: Lazy, a: Lazy, b: Lazy): Thunk {
  const t = new Thunk(a as unknown as Expr | null, b as unknown as Env | null);
  t.value = f as Value;
  t.state = ThunkState.PendingApp2;
  return t;
}

export function isString(v: Value): v is string | NixString {
  return typeof v === 'string' || v instanceof NixString;
}

export function strOf(v: string | NixString): string {
  return typeof v === 'string' ? v : v.s;
}

export function ctxOf(v: string | NixString): ReadonlySet<string> {
  return typeof v === 'string' ? EMPTY_CTX : v.ctx;
}

export const EMPTY_CTX: ReadonlySet<string> = new Set();

export function mkString(s: string, ctx: ReadonlySet<string> | null): string | NixString {
  return ctx === null || ctx.size === 0 ? s : new NixString(s, ctx);
}

export function mkAttrs(entries: Record<string, Lazy> | Map<string, Lazy>): NixAttrs {
  return new NixAttrs(entries instanceof Map ? entries : new Map(Object.entries(entries)));
}

/** Nix's type names (builtins.typeOf). */
export function typeOf(v: Value): string {
  switch (typeof v) {
    case 'bigint': case 'number': return 'int';
    case 'boolean': return 'bool';
    case 'string': return 'string';
  }
  if (v === null) return 'null';
  if (v instanceof NixFloat) return 'float';
  if (v instanceof NixString) return 'string';
  if (v instanceof NixPath) return 'path';
  if (Array.isArray(v)) return 'list';
  if (v instanceof NixAttrs) return 'set';
  return 'lambda';
}

/** Type descriptions as Nix's showType prints them in errors. */
export function showType(v: Value): string {
  switch (typeof v) {
    case 'bigint': case 'number': return 'an integer';
    case 'boolean': return 'a Boolean';
    case 'string': return 'a string';
  }
  if (v === null) return 'null';
  if (v instanceof NixFloat) return 'a float';
  if (v instanceof NixString) return 'a string';
  if (v instanceof NixPath) return 'a path';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof NixAttrs) return 'a set';
  if (v instanceof Lambda) return 'a function';
  if (v instanceof PrimOp) return `the built-in function '${v.name}'`;
  return `the partially applied built-in function '${(v as PrimOpApp).op.name}'`;
}

export function isFunction(v: Value): v is Lambda | PrimOp | PrimOpApp {
  return v instanceof Lambda || v instanceof PrimOp || v instanceof PrimOpApp;
}
