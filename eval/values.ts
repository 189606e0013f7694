// The evaluator's value model. Chosen for speed: plain JS values where possible.
//   int → bigint (64-bit, wrapped with BigInt.asIntN as Nix's int64_t)   float → number
//   bool → boolean   null → null   string without context → string
//   string with context → NixString   path → NixPath   list → Lazy[] (JS array)
//   attrset → NixAttrs   function → Lambda | PrimOp | PrimOpApp
// A Lazy is a Value or a Thunk; forcing a Thunk updates it in place (call-by-need), so every holder
// of the same Thunk sees the value, as Nix's shared Value* do.
import type { Env, ExprLambda, Expr, Pos } from './ast.js';

export type Value = bigint | number | boolean | null | string | NixString | NixPath | Lazy[] | NixAttrs | Lambda | PrimOp | PrimOpApp;
export type Lazy = Value | Thunk;

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
  pos: PosSource | null = null;
  posFrom: NixAttrs[] | null = null;
  constructor(readonly map: Map<string, Lazy>) {}
  /** Where attribute `name` was defined, if known. */
  posOf(name: string): Pos | undefined {
    const p = this.pos?.get(name);
    if (p !== undefined) return 'pos' in p && typeof p.pos === 'object' && p.pos !== null && 'line' in p.pos ? p.pos : p as Pos;
    if (this.posFrom) for (const a of this.posFrom) { if (a.map.has(name)) return a.posOf(name); }
    return undefined;
  }
  get(name: string): Lazy | undefined { return this.map.get(name); }
  has(name: string): boolean { return this.map.has(name); }
  get size(): number { return this.map.size; }
  /** Names sorted as Nix 2.8 orders attributes (byte order of the UTF-8 names). */
  sortedNames(): string[] { return [...this.map.keys()].sort(compareNames); }
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class Lambda {
  constructor(readonly fn: ExprLambda, readonly env: Env) {}
}

/** A builtin function of `arity` arguments; `fn` receives them unforced (it forces what it needs). */
export class PrimOp {
  constructor(readonly name: string, readonly arity: number, readonly fn: (args: Lazy[], pos: Pos | null) => Value) {}
}

/** A primop applied to fewer arguments than its arity. */
export class PrimOpApp {
  constructor(readonly op: PrimOp, readonly args: Lazy[]) {}
}

export const enum ThunkState { Pending, Running, Done }

export class Thunk {
  state: ThunkState = ThunkState.Pending;
  value: Value = null;
  /** Either an expression in an environment, or a native computation (for builtins' lazy results). */
  constructor(public expr: Expr | null, public env: Env | null, public native: (() => Value) | null = null) {}
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
    case 'bigint': return 'int';
    case 'number': return 'float';
    case 'boolean': return 'bool';
    case 'string': return 'string';
  }
  if (v === null) return 'null';
  if (v instanceof NixString) return 'string';
  if (v instanceof NixPath) return 'path';
  if (Array.isArray(v)) return 'list';
  if (v instanceof NixAttrs) return 'set';
  return 'lambda';
}

/** Type descriptions as Nix's showType prints them in errors. */
export function showType(v: Value): string {
  switch (typeof v) {
    case 'bigint': return 'an integer';
    case 'number': return 'a float';
    case 'boolean': return 'a Boolean';
    case 'string': return 'a string';
  }
  if (v === null) return 'null';
  if (v instanceof NixString) return 'a string';
  if (v instanceof NixPath) return 'a path';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof NixAttrs) return 'a set';
  if (v instanceof Lambda) return 'a function';
  if (v instanceof PrimOp) return 'a built-in function';
  return 'a partially applied built-in function';
}

export function isFunction(v: Value): v is Lambda | PrimOp | PrimOpApp {
  return v instanceof Lambda || v instanceof PrimOp || v instanceof PrimOpApp;
}
