// AST nodes of the Nix language, each evaluating itself. Variables are resolved when the tree is
// bound (bind()), to (level, index) pairs into Env frames, or to a list of enclosing `with` levels.
import { NixAssertionError, NixEvalError, showPosParen, showTrace, type Pos } from './errors.js';
import {
  AttrKeys, EMPTY_CTX, Lambda, NixAttrs, NixFloat, NixPath, Thunk, ThunkState, intAdd, showType, type Lazy, type Value,
} from './values.js';
import * as ev from './evaluator.js';
import { showExprDefault } from './show-expr.js';

/** The origin Nix 2.8 gives derivation.nix (its positions get no trace frames and no code lines). */
export const DERIVATION_NIX_ORIGIN = '//builtin/derivation.nix';

export type { Pos } from './errors.js';

/**
 * A frame of the environment: slot 0 holds the enclosing frame (null at the top), the variables
 * follow. One array rather than an object holding an array: a call allocates one object, not two.
 * Slot 0 is never a number, so a frame's array always has generic elements (an array that starts
 * as an int or double array makes variable lookups polymorphic, and a read from a double array
 * allocates a box).
 */
export type Env = unknown[];

/** A frame of one variable. */
export function frame1(up: Env | null, v: Lazy): Env {
  return [up, v];
}

/** A frame of n variables, unset (undefined: see ExprVar.lazy) until filled, from slot 1 on. */
export function frameN(up: Env | null, n: number): Env {
  const u = undefined;
  switch (n) {
    case 0: return [up];
    case 1: return [up, u];
    case 2: return [up, u, u];
    case 3: return [up, u, u, u];
    case 4: return [up, u, u, u, u];
    case 5: return [up, u, u, u, u, u];
    case 6: return [up, u, u, u, u, u, u];
    case 7: return [up, u, u, u, u, u, u, u];
  }
  const a: Env = [up, u, u, u, u, u, u, u, u];
  for (let i = 8; i < n; i++) a.push(u);
  return a;
}

/** Static scope used while binding: names of a frame, or a `with` frame (names === null). */
export class Scope {
  constructor(readonly up: Scope | null, readonly names: Map<string, number> | null) {}
}

export abstract class Expr {
  pos: Pos | null = null;
  abstract eval(env: Env): Value;
  /** The value as a lazy slot: constants and variables directly, everything else as a thunk. */
  lazy(env: Env): Lazy { return new Thunk(this, env); }
  abstract bind(scope: Scope): void;
}

export class ExprConst extends Expr {
  constructor(readonly v: Value) { super(); }
  eval(): Value { return this.v; }
  override lazy(): Lazy { return this.v; }
  bind(): void {}
}

export class ExprVar extends Expr {
  level = 0;
  /** The variable's slot in its frame (see Env). */
  slot = 0;
  /** Levels of enclosing `with` frames, innermost first; non-null when the name is not lexically bound. */
  withLevels: number[] | null = null;
  constructor(readonly name: string, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void {
    let level = 0;
    const withs: number[] = [];
    for (let s: Scope | null = scope; s; s = s.up, level++) {
      if (s.names === null) { withs.push(level); continue; }
      const idx = s.names.get(this.name);
      if (idx !== undefined) { this.level = level; this.slot = idx + 1; return; }
    }
    if (withs.length === 0) throw new NixEvalError(`undefined variable '${this.name}'`, this.pos);
    this.withLevels = withs;
  }
  lookup(env: Env): Lazy {
    if (this.withLevels === null) {
      let e = env;
      for (let l = this.level; l > 0; l--) e = e[0] as Env;
      return e[this.slot] as Lazy;
    }
    for (const wl of this.withLevels) {
      let e = env;
      for (let l = wl; l > 0; l--) e = e[0] as Env;
      const attrs = ev.forceAttrs(e[1] as Lazy, null);
      const v = attrs.get(this.name);
      if (v !== undefined) return v;
    }
    throw new NixEvalError(`undefined variable '${this.name}'`, this.pos);
  }
  eval(env: Env): Value {
    let v: Lazy;
    if (this.withLevels === null) {
      // lookup() written out: the most frequent evaluation step.
      let e = env;
      for (let l = this.level; l > 0; l--) e = e[0] as Env;
      v = e[this.slot] as Lazy;
    } else v = this.lookup(env);
    return v instanceof Thunk ? ev.forceThunk(v) : v;
  }
  override lazy(env: Env): Lazy {
    // A recursive binding may not be initialised yet (`let x = x;`): then make a thunk.
    // Variables from `with` stay lazy: looking them up would force the with's set too early.
    if (this.withLevels !== null) return new Thunk(this, env);
    const v = this.lookup(env);
    return v === undefined ? new Thunk(this, env) : v;
  }
}

/** An attribute path element: a static name or an expression yielding one. */
export type AttrName = string | Expr;

/** A selected or tested name (`e.${n}`, `e ? ${n}`): a string, null too is an error (only a
 *  set's definition skips a null name); Nix 2.8 reports it without a position. */
export function attrNameValue(n: AttrName, env: Env): string {
  if (typeof n === 'string') return n;
  return ev.forceStringNoCtxValue(n.eval(env), null);
}

export function showAttrPath(path: AttrName[]): string {
  return path.map((n) => (typeof n === 'string' ? n : '"${..}"')).join('.');
}

export class ExprSelect extends Expr {
  constructor(readonly e: Expr, readonly path: AttrName[], readonly def: Expr | null, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void {
    this.e.bind(scope);
    for (const n of this.path) if (typeof n !== 'string') n.bind(scope);
    this.def?.bind(scope);
  }
  eval(env: Env): Value {
    const v = this.e.eval(env);
    // `e.name` and `e.${name}`, the most frequent selections, without the loop (as evalPath does
    // them: the name evaluated once, a missing attribute's error without a trace).
    const path = this.path;
    if (path.length === 1 && this.def === null && v instanceof NixAttrs) {
      const n = path[0]!;
      const name = typeof n === 'string' ? n : attrNameValue(n, env);
      const a = v.get(name);
      if (a === undefined) throw ev.missingAttr(name, v, this.pos);
      if (!(a instanceof Thunk)) return a;
      if (a.state === ThunkState.Done) return a.value;
      return this.forceAttr(a, v, name, env);
    }
    return this.evalPath(v, env);
  }
  /** The attribute `name` of `set` forced, an error traced as evalPath traces it. */
  private forceAttr(a: Thunk, set: NixAttrs, name: string, env: Env): Value {
    try {
      return ev.forceThunk(a);
    } catch (e) {
      this.traceAt(e, set, name, env);
      throw e;
    }
  }
  /** Nix adds "while evaluating the attribute …" at the definition of the last attribute found (none without a position, or in derivation.nix). */
  private traceAt(e: unknown, set: NixAttrs, found: string, env: Env): void {
    if (!(e instanceof NixEvalError)) return;
    const p = set.posOf(found);
    if (p !== undefined && p.origin !== DERIVATION_NIX_ORIGIN) e.addTrace(p, `while evaluating the attribute '${this.showPath(env)}'`);
  }
  private evalPath(v0: Value, env: Env): Value {
    let v = v0;
    // The set and name of the last attribute found (Nix's pos2), for the trace of an error.
    let set: NixAttrs | null = null, found = '';
    const path = this.path;
    try {
      for (let i = 0; i < path.length; i++) {
        const n = path[i]!;
        const name = typeof n === 'string' ? n : attrNameValue(n, env);
        if (this.def !== null) {
          if (!(v instanceof NixAttrs)) return this.def.eval(env);
          const a = v.get(name);
          if (a === undefined) return this.def.eval(env);
          set = v; found = name;
          v = ev.force(a);
        } else {
          if (!(v instanceof NixAttrs)) throw ev.typeError('a set', v, this.pos);
          const a = v.get(name);
          if (a === undefined) throw ev.missingAttr(name, v, this.pos);
          set = v; found = name;
          v = ev.force(a);
        }
      }
      return v;
    } catch (e) {
      if (set !== null) this.traceAt(e, set, found, env);
      throw e;
    }
  }
  /** Nix's showAttrPath: dynamic names evaluated, or shown as "${expr}" when that fails. */
  private showPath(env: Env): string {
    return this.path.map((n) => {
      if (typeof n === 'string') return n;
      try {
        return attrNameValue(n, env);
      } catch { /* shown as an expression */ }
      return `"\${${showExprDefault(n)}}"`;
    }).join('.');
  }
}

export class ExprHasAttr extends Expr {
  constructor(readonly e: Expr, readonly path: AttrName[]) { super(); }
  bind(scope: Scope): void {
    this.e.bind(scope);
    for (const n of this.path) if (typeof n !== 'string') n.bind(scope);
  }
  eval(env: Env): Value {
    let v: Value = this.e.eval(env);
    for (const n of this.path) {
      if (!(v instanceof NixAttrs)) return false;
      const a = v.get(attrNameValue(n, env));
      if (a === undefined) return false;
      v = ev.force(a);
    }
    return true;
  }
}

export interface AttrDef {
  e: Expr;
  /** `inherit x;` (bound in the enclosing scope, not the recursive one). */
  inherited: boolean;
  pos: Pos;
}

export class ExprAttrs extends Expr {
  readonly attrs = new Map<string, AttrDef>();
  readonly dynamic: { name: Expr; e: Expr; pos: Pos }[] = [];
  constructor(public rec: boolean, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void {
    if (this.rec) {
      const names = new Map<string, number>();
      let i = 0;
      for (const k of this.attrs.keys()) names.set(k, i++);
      const inner = new Scope(scope, names);
      for (const d of this.attrs.values()) d.e.bind(d.inherited ? scope : inner);
      for (const d of this.dynamic) { d.name.bind(inner); d.e.bind(inner); }
    } else {
      for (const d of this.attrs.values()) d.e.bind(scope);
      for (const d of this.dynamic) { d.name.bind(scope); d.e.bind(scope); }
    }
  }
  /** Name → index of the static attributes, for sets made without a Map (see NixAttrs.indexed). */
  private index: AttrKeys | null = null;
  private defs: AttrDef[] | null = null;
  /**
   * The static attributes' definitions in order, as an array: iterating the Map would allocate an
   * iterator and a result per attribute while the evaluating code is not yet optimised.
   */
  defList(): AttrDef[] { return this.defs ??= [...this.attrs.values()]; }
  /** Whether this literal makes indexed sets (static names only, not empty, no `__overrides`); null until first evaluated. */
  private indexable: boolean | null = null;
  eval(env: Env): Value {
    if (this.indexable ??= this.dynamic.length === 0 && this.attrs.size > 0 && !this.attrs.has('__overrides')) {
      let index = this.index;
      if (index === null) {
        const slots = new Map<string, number>();
        for (const k of this.attrs.keys()) slots.set(k, slots.size + 1);
        this.index = index = new AttrKeys(slots, [...this.attrs.keys()]);
      }
      // The values are laid out as a frame: for `rec`, the frame its attributes see.
      const defs = this.defList();
      const vals = frameN(this.rec ? env : null, defs.length);
      if (this.rec) {
        for (let i = 0; i < defs.length; i++) { const d = defs[i]!; vals[i + 1] = d.e.lazy(d.inherited ? env : vals); }
      } else {
        for (let i = 0; i < defs.length; i++) vals[i + 1] = defs[i]!.e.lazy(env);
      }
      const a = NixAttrs.indexed(index, vals as Lazy[]);
      a.pos = this.attrs;
      a.litPos = this.pos;
      return a;
    }
    const map = new Map<string, Lazy>();
    let dynPos: Map<string, Pos> | null = null;
    let inner = env;
    if (this.rec) {
      const vars = frameN(env, this.attrs.size);
      inner = vars;
      const hasOverrides = this.attrs.has('__overrides');
      let i = 1;
      for (const [k, d] of this.attrs) {
        // With `__overrides`, Nix makes every own attribute a thunk (no variable is looked up
        // early), so that references to an overridden attribute see the override.
        const v = hasOverrides && !d.inherited ? new Thunk(d.e, inner) : d.e.lazy(d.inherited ? env : inner);
        vars[i++] = v;
        map.set(k, v);
      }
      if (hasOverrides) {
        // Legacy: attributes of `__overrides` replace the recursive set's own (also for references inside it).
        const names = [...this.attrs.keys()];
        const ovs = ev.forceAttrs(map.get('__overrides')!, this.pos);
        for (const [k, v] of ovs.map) {
          const idx = names.indexOf(k);
          if (idx >= 0) vars[idx + 1] = v;
          map.set(k, v);
          const op = ovs.posOf(k);
          if (op) (dynPos ??= new Map()).set(k, op);
        }
      }
    } else {
      for (const [k, d] of this.attrs) map.set(k, d.e.lazy(env));
    }
    for (const d of this.dynamic) {
      const nv = d.name.eval(inner);
      if (nv === null) continue;
      const name = ev.forceStringNoCtxValue(nv, d.name.pos);
      if (map.has(name)) {
        const prev = this.attrs.get(name)?.pos ?? dynPos?.get(name);
        throw new NixEvalError(`dynamic attribute '${name}' already defined at ${prev ? showPosParen(prev) : '?'}`, d.pos);
      }
      setLambdaName(d.e, name);
      map.set(name, d.e.lazy(inner));
      (dynPos ??= new Map()).set(name, d.pos);
    }
    const a = new NixAttrs(map);
    a.litPos = this.pos;
    // Static positions come straight from the definitions; only dynamic ones need a map.
    if (dynPos === null) a.pos = this.attrs;
    else { const st = this.attrs, dp = dynPos; a.pos = { get: (n: string) => dp.get(n) ?? st.get(n)?.pos }; }
    return a;
  }
}

export class ExprList extends Expr {
  constructor(readonly elems: Expr[]) { super(); }
  bind(scope: Scope): void { for (const e of this.elems) e.bind(scope); }
  eval(env: Env): Value {
    const n = this.elems.length;
    const out: Lazy[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.elems[i]!.lazy(env);
    return out;
  }
}

export class ExprLet extends Expr {
  constructor(readonly attrs: ExprAttrs, readonly body: Expr) { super(); }
  bind(scope: Scope): void {
    const names = new Map<string, number>();
    let i = 0;
    for (const k of this.attrs.attrs.keys()) names.set(k, i++);
    const inner = new Scope(scope, names);
    for (const d of this.attrs.attrs.values()) d.e.bind(d.inherited ? scope : inner);
    this.body.bind(inner);
  }
  eval(env: Env): Value {
    const defs = this.attrs.defList();
    const inner = frameN(env, defs.length);
    for (let i = 0; i < defs.length; i++) { const d = defs[i]!; inner[i + 1] = d.e.lazy(d.inherited ? env : inner); }
    return this.body.eval(inner);
  }
}

export class ExprWith extends Expr {
  constructor(readonly attrs: Expr, readonly body: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void {
    this.attrs.bind(scope);
    this.body.bind(new Scope(scope, null));
  }
  eval(env: Env): Value {
    return this.body.eval(frame1(env, this.attrs.lazy(env)));
  }
}

export class ExprIf extends Expr {
  constructor(readonly c: Expr, readonly t: Expr, readonly e: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.c.bind(scope); this.t.bind(scope); this.e.bind(scope); }
  eval(env: Env): Value {
    const c = this.c.eval(env);
    if (c === true) return this.t.eval(env);
    if (c === false) return this.e.eval(env);
    return ev.forceBoolValue(c, this.pos) ? this.t.eval(env) : this.e.eval(env);
  }
}

export class ExprAssert extends Expr {
  constructor(readonly c: Expr, readonly body: Expr, readonly text: string, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.c.bind(scope); this.body.bind(scope); }
  eval(env: Env): Value {
    if (!ev.forceBoolValue(this.c.eval(env), this.c.pos ?? this.pos)) throw new NixAssertionError(`assertion '${this.text}' failed`, this.pos);
    return this.body.eval(env);
  }
}

export interface Formal { name: string; def: Expr | null; pos?: Pos; }

export class ExprLambda extends Expr {
  name: string | null = null;
  /**
   * Whether a call may evaluate the body in a spare frame (see ev.callSpare): a plain `x: body`
   * whose body keeps no frame (see mayKeepEnv). Set by bind.
   */
  reusable = false;
  /** A frame (`[up, arg]`) not in use, for callSpare, and a pair (`[[up, a], b]`) for callSpare2. */
  spare: Env | null = null;
  spare2: Env | null = null;
  /** Frame layout: formals in order, then the `@` name (if any). */
  constructor(readonly arg: string | null, readonly formals: Formal[] | null, readonly ellipsis: boolean, readonly body: Expr, pos: Pos) {
    super(); this.pos = pos;
  }
  bind(scope: Scope): void {
    const names = new Map<string, number>();
    if (this.formals) this.formals.forEach((f, i) => names.set(f.name, i));
    if (this.arg !== null) names.set(this.arg, this.formals ? this.formals.length : 0);
    const inner = new Scope(scope, names);
    if (this.formals) for (const f of this.formals) f.def?.bind(inner);
    this.body.bind(inner);
    this.reusable = this.formals === null && !mayKeepEnv(this.body);
  }
  eval(env: Env): Value { return new Lambda(this, env); }
  describe(): string {
    return this.name === null ? `anonymous function at ${showPosParen(this.pos!)}` : `'${this.name}' at ${showPosParen(this.pos!)}`;
  }
}

/** Nix's Expr::setName: a function bound to an attribute is named after it (curried ones too). */
export function setLambdaName(e: Expr, name: string): void {
  for (let x: Expr = e; x instanceof ExprLambda; x = x.body) x.name = name;
}

export class ExprCall extends Expr {
  constructor(readonly fn: Expr, readonly args: Expr[], pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.fn.bind(scope); for (const a of this.args) a.bind(scope); }
  eval(env: Env): Value {
    let f = this.fn.eval(env);
    const args = this.args;
    if (args.length === 1) {
      // A lambda's call written out, as in callFunction: the most frequent call.
      const a = args[0]!.lazy(env);
      if (f instanceof Lambda && f.fn.formals === null && !showTrace) return f.fn.reusable ? ev.callSpare(f.fn, f.env, a) : f.fn.body.eval([f.env, a]);
      return ev.callFunction(f, a, this.pos);
    }
    if (args.length === 2) return ev.call2(f, args[0]!.lazy(env), args[1]!.lazy(env), this.pos);
    for (let i = 0; i < args.length; i++) f = ev.callFunction(f, args[i]!.lazy(env), this.pos);
    return f;
  }
}

/** The builtins Nix's parser desugars the operators into (`a - b` is `__sub a b`, …). */
const DESUGARED: Record<string, string> = { '-': '__sub', '*': '__mul', '/': '__div', '<': '__lessThan' };

/**
 * Calls a builtin primop directly (the desugared `-`, `*`, `/`, `<`, …), unless the code binds
 * that builtin's name itself (`let __sub = …; in a - b`): Nix then calls the binding in scope.
 */
export class ExprPrimCall extends Expr {
  /** The binding in scope that the operator calls instead of the builtin, when there is one. */
  protected shadow: ExprVar | null = null;
  constructor(readonly op: string, readonly args: Expr[], pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void {
    for (const a of this.args) a.bind(scope);
    const name = DESUGARED[this.op];
    if (name !== undefined && boundOutsideBase(scope, name)) {
      this.shadow = new ExprVar(name, this.pos!);
      this.shadow.bind(scope);
    }
  }
  eval(env: Env): Value {
    if (this.shadow !== null) return this.callShadow(env);
    const a = this.args[0]!.eval(env), b = this.args[1]!.eval(env);
    // Nix reports comparison errors without a position.
    return ev.arith(this.op, a, b, this.op === '<' ? null : this.pos);
  }
  protected callShadow(env: Env): Value {
    return ev.call2(this.shadow!.eval(env), this.args[0]!.lazy(env), this.args[1]!.lazy(env), this.pos);
  }
}

/** Whether `name` is bound lexically by the code (not only by the base environment of builtins). */
function boundOutsideBase(scope: Scope, name: string): boolean {
  for (let s: Scope | null = scope; s && s.up; s = s.up) if (s.names?.has(name)) return true;
  return false;
}

/** The largest magnitude of a JS-number int (a larger result goes through bigint, see values.ts). */
const SAFE = 0x1fffffffffffff;

// The operators as their own nodes: the common case (two small ints) is then answered without
// the generic dispatch on the operator, which a tree walker pays on every arithmetic step.
class ExprSub extends ExprPrimCall {
  override eval(env: Env): Value {
    if (this.shadow !== null) return this.callShadow(env);
    const a = this.args[0]!.eval(env), b = this.args[1]!.eval(env);
    if (typeof a === 'number' && typeof b === 'number') {
      const r = a - b;
      if (r <= SAFE && r >= -SAFE) return r;
    }
    return ev.arith('-', a, b, this.pos);
  }
}

class ExprMul extends ExprPrimCall {
  override eval(env: Env): Value {
    if (this.shadow !== null) return this.callShadow(env);
    const a = this.args[0]!.eval(env), b = this.args[1]!.eval(env);
    if (typeof a === 'number' && typeof b === 'number') {
      const r = a * b;
      if (r <= SAFE && r >= -SAFE) return r + 0; // + 0: no -0 among ints
    }
    return ev.arith('*', a, b, this.pos);
  }
}

class ExprLessThan extends ExprPrimCall {
  override eval(env: Env): Value {
    if (this.shadow !== null) return this.callShadow(env);
    const a = this.args[0]!.eval(env), b = this.args[1]!.eval(env);
    if (typeof a === 'number' && typeof b === 'number') return a < b;
    return ev.lessThan(a, b, null);
  }
}

/** `a op b` for the desugared operators (op is `-`, `*`, `/` or `<`). */
export function primCall(op: string, args: Expr[], pos: Pos): ExprPrimCall {
  switch (op) {
    case '-': return new ExprSub(op, args, pos);
    case '*': return new ExprMul(op, args, pos);
    case '<': return new ExprLessThan(op, args, pos);
  }
  return new ExprPrimCall(op, args, pos);
}

export class ExprNot extends Expr {
  constructor(readonly e: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.e.bind(scope); }
  eval(env: Env): Value { return !ev.forceBoolValue(this.e.eval(env), null); }
}

export class ExprBinBool extends Expr {
  constructor(readonly op: '&&' | '||' | '->', readonly a: Expr, readonly b: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.a.bind(scope); this.b.bind(scope); }
  eval(env: Env): Value {
    const a = ev.forceBoolValue(this.a.eval(env), this.pos);
    if (this.op === '&&') return a ? ev.forceBoolValue(this.b.eval(env), this.pos) : false;
    if (this.op === '||') return a ? true : ev.forceBoolValue(this.b.eval(env), this.pos);
    return a ? ev.forceBoolValue(this.b.eval(env), this.pos) : true;
  }
}

export class ExprEq extends Expr {
  constructor(readonly neg: boolean, readonly a: Expr, readonly b: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.a.bind(scope); this.b.bind(scope); }
  eval(env: Env): Value {
    const r = ev.eqValues(this.a.eval(env), this.b.eval(env), this.pos);
    return this.neg ? !r : r;
  }
}

export class ExprUpdate extends Expr {
  constructor(readonly a: Expr, readonly b: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.a.bind(scope); this.b.bind(scope); }
  eval(env: Env): Value {
    const a = ev.forceAttrsValue(this.a.eval(env), null);
    const b = ev.forceAttrsValue(this.b.eval(env), null);
    if (a.isEmpty()) return b;
    if (b.isEmpty()) return a;
    return NixAttrs.update(a, b);
  }
}

export class ExprConcatLists extends Expr {
  constructor(readonly a: Expr, readonly b: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.a.bind(scope); this.b.bind(scope); }
  eval(env: Env): Value {
    const a = ev.forceListValue(this.a.eval(env), this.pos);
    const b = ev.forceListValue(this.b.eval(env), this.pos);
    if (a.length === 0) return b;
    if (b.length === 0) return a;
    return a.concat(b);
  }
}

/** String interpolation (forceString) and `+` (not forceString): Nix's ExprConcatStrings. */
export class ExprConcatStrings extends Expr {
  constructor(readonly forceString: boolean, readonly parts: Expr[], pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { for (const p of this.parts) p.bind(scope); }
  eval(env: Env): Value {
    if (!this.forceString && this.parts.length === 2) {
      const a = this.parts[0]!.eval(env);
      if (typeof a === 'number' || typeof a === 'bigint') {
        const b = this.parts[1]!.eval(env);
        if (typeof a === 'number' && typeof b === 'number') {
          const r = a + b;
          if (r <= 0x1fffffffffffff && r >= -0x1fffffffffffff) return r;
        }
        if (typeof b === 'number' || typeof b === 'bigint') return intAdd(a, b);
        if (b instanceof NixFloat) return new NixFloat(Number(a) + b.v);
        throw new NixEvalError(`cannot add ${showType(b)} to an integer`, this.parts[1]!.pos ?? this.pos);
      }
      return ev.concatStrings(a, this.parts, env, this.forceString, this.pos);
    }
    if (this.forceString) {
      // Interpolation of plain strings, the common case, written out (see concatStrings).
      const parts = this.parts;
      let s = '';
      for (let i = 0; i < parts.length; i++) {
        const v = parts[i]!.eval(env);
        if (typeof v !== 'string') return ev.concatFrom(i, v, s, parts, env, true, this.pos);
        s += v;
      }
      return s;
    }
    return ev.concatStrings(this.parts[0]!.eval(env), this.parts, env, false, this.pos);
  }
}

/** `<nixpkgs>`: `__findFile __nixPath "nixpkgs"` resolved lexically as Nix does. */
export class ExprSearchPath extends Expr {
  private readonly call: ExprCall;
  constructor(readonly name: string, pos: Pos) {
    super(); this.pos = pos;
    this.call = new ExprCall(new ExprVar('__findFile', pos), [new ExprVar('__nixPath', pos), new ExprConst(name)], pos);
  }
  bind(scope: Scope): void { this.call.bind(scope); }
  eval(env: Env): Value { return this.call.eval(env); }
}

/** An interpolated part `${e}`: e, positioned at its `${` (where Nix reports coercion errors). */
export class ExprPart extends Expr {
  constructor(readonly e: Expr, pos: Pos) { super(); this.pos = pos; }
  bind(scope: Scope): void { this.e.bind(scope); }
  eval(env: Env): Value { return this.e.eval(env); }
  override lazy(env: Env): Lazy { return this.e.lazy(env); }
}

export class ExprPos extends Expr {
  constructor(pos: Pos) { super(); this.pos = pos; }
  bind(): void {}
  eval(): Value { return ev.posToAttrs(this.pos); }
}

export { EMPTY_CTX, NixPath };

const keepsEnvCache = new WeakMap<Expr, boolean>();

/**
 * Whether evaluating `e` may leave its environment (or a frame made under it) reachable after the
 * evaluation: in a thunk, a function or a `with`. A caller that evaluates `e` many times in
 * turn may then reuse one frame when this is false (see foldl'). Conservative: unknown nodes keep it.
 */
export function mayKeepEnv(e: Expr): boolean {
  let r = keepsEnvCache.get(e);
  if (r === undefined) keepsEnvCache.set(e, r = keepsEnv(e));
  return r;
}

function keepsEnv(e: Expr): boolean {
  if (e instanceof ExprConst || e instanceof ExprVar || e instanceof ExprPos) return false;
  if (e instanceof ExprPart) return keepsEnv(e.e);
  if (e instanceof ExprSelect) return keepsEnv(e.e) || namesKeepEnv(e.path) || (e.def !== null && keepsEnv(e.def));
  if (e instanceof ExprHasAttr) return keepsEnv(e.e) || namesKeepEnv(e.path);
  if (e instanceof ExprConcatStrings || e instanceof ExprPrimCall) return (e instanceof ExprPrimCall ? e.args : e.parts).some(keepsEnv);
  if (e instanceof ExprIf) return keepsEnv(e.c) || keepsEnv(e.t) || keepsEnv(e.e);
  if (e instanceof ExprNot) return keepsEnv(e.e);
  if (e instanceof ExprBinBool || e instanceof ExprEq || e instanceof ExprUpdate || e instanceof ExprConcatLists) return keepsEnv(e.a) || keepsEnv(e.b);
  // A call's arguments are passed lazily: only constants and lexical variables are passed without a thunk.
  if (e instanceof ExprCall) return keepsEnv(e.fn) || e.args.some(lazyKeepsEnv);
  return true;
}

function namesKeepEnv(path: AttrName[]): boolean {
  return path.some((n) => typeof n !== 'string' && keepsEnv(n));
}

/** Whether `e.lazy(env)` may keep env (see ExprVar.lazy: a variable from a `with` becomes a thunk). */
function lazyKeepsEnv(e: Expr): boolean {
  if (e instanceof ExprConst) return false;
  if (e instanceof ExprVar) return e.withLevels !== null;
  if (e instanceof ExprPart) return lazyKeepsEnv(e.e);
  return true;
}
