// STOPGAP evaluator (see parser.ts): lazy evaluation of the parsed subset, a builtins set with
// what derivation-producing expressions use, and the DrvHost/InstantiateEvaluator views that the
// derivation code needs. To be replaced by the project's evaluator in eval/.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { COREPKGS, DERIVATION_NIX } from '../corepkgs.js';
import { derivationPrimops, type DrvHost } from '../primops.js';
import type { InstantiationSession } from '../session.js';
import type { InstantiateEvaluator } from '../instantiate.js';
import { nixJsonString } from '../show-json.js';
import { parseNix, type AttrDef, type Expr } from './parser.js';
import {
  EvalError, force, NAttrs, NFloat, NLambda, NPath, NPrimop, NStr, Thunk, typeName, typeOf, type Lazy, type Value,
} from './values.js';

export class Env {
  constructor(readonly vars: Map<string, Lazy> | null, readonly parent: Env | null, readonly withSet: Lazy | null = null) {}
}

const EMPTY_CTX: ReadonlySet<string> = new Set();

function strOf(v: Value): { s: string; ctx: ReadonlySet<string> } | null {
  if (typeof v === 'string') return { s: v, ctx: EMPTY_CTX };
  if (v instanceof NStr) return { s: v.s, ctx: v.ctx };
  return null;
}

function mkStr(s: string, ctx: ReadonlySet<string>): Value {
  return ctx.size ? new NStr(s, new Set(ctx)) : s;
}

/** C's printf("%f"). */
function floatToString(v: number): string {
  return v.toFixed(6);
}

/** C++ ostream's default (%g, precision 6). */
function floatToJson(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  const exp = Number(v.toExponential(5).split('e')[1]);
  if (exp < -4 || exp >= 6) {
    const [m, e] = v.toExponential(5).split('e') as [string, string];
    const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    const en = Number(e);
    return `${mant}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  const s = v.toPrecision(6);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

export class StopgapEvaluator {
  readonly builtins: NAttrs;
  readonly baseEnv: Env;
  private readonly fileCache = new Map<string, Value>();
  readonly host: DrvHost<Lazy>;

  constructor(readonly session: InstantiationSession, readonly searchPath: { prefix: string; path: string }[] = []) {
    this.host = this.makeHost();
    const b = new Map<string, Lazy>();
    this.builtins = new NAttrs(b);
    this.defineBuiltins(b);
    const globals = new Map<string, Lazy>([
      ['builtins', this.builtins], ['true', true], ['false', false], ['null', null],
    ]);
    for (const n of ['derivation', 'derivationStrict', 'placeholder', 'toString', 'map', 'import', 'baseNameOf', 'dirOf', 'isNull', 'removeAttrs', 'throw', 'abort', 'fetchTarball']) {
      globals.set(n, b.get(n)!);
    }
    this.baseEnv = new Env(globals, null);
    const drvFn = new Thunk(() => this.eval(parseNix(DERIVATION_NIX, '//builtin/derivation.nix', '/'), this.baseEnv));
    b.set('derivation', drvFn);
    globals.set('derivation', drvFn);
  }

  // ---- evaluation ----------------------------------------------------------------------------

  evalFile(path: string): Value {
    let p = path;
    if (existsSync(p) && statSync(p).isDirectory()) p += '/default.nix';
    const cached = this.fileCache.get(p);
    if (cached !== undefined) return cached;
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch {
      throw new EvalError(`getting status of '${p}': No such file or directory`);
    }
    const v = this.eval(parseNix(text, p, dirname(p)), this.baseEnv);
    this.fileCache.set(p, v);
    return v;
  }

  evalString(text: string, dir: string): Value {
    return this.eval(parseNix(text, '(string)', dir), this.baseEnv);
  }

  lazy(e: Expr, env: Env): Lazy {
    switch (e.k) {
      case 'int': return e.v;
      case 'var': {
        const v = this.lookupStatic(e.name, env);
        if (v !== undefined) return v;
        return new Thunk(() => this.eval(e, env));
      }
      case 'str': if (e.parts.length === 1 && typeof e.parts[0] === 'string') return e.parts[0]; break;
      case 'lambda': return new NLambda(e.arg, e.formals, e.body, env);
    }
    return new Thunk(() => this.eval(e, env));
  }

  private lookupStatic(name: string, env: Env): Lazy | undefined {
    for (let en: Env | null = env; en; en = en.parent) {
      if (en.vars) {
        const v = en.vars.get(name);
        if (v !== undefined) return v;
      }
    }
    return undefined;
  }

  lookup(name: string, env: Env): Value {
    const v = this.lookupStatic(name, env);
    if (v !== undefined) return force(v);
    for (let en: Env | null = env; en; en = en.parent) {
      if (en.withSet !== null) {
        const s = this.forceAttrs(en.withSet);
        const x = s.m.get(name);
        if (x !== undefined) return force(x);
      }
    }
    throw new EvalError(`undefined variable '${name}'`);
  }

  eval(e: Expr, env: Env): Value {
    switch (e.k) {
      case 'int': return e.v;
      case 'float': return new NFloat(e.v);
      case 'path': return new NPath(e.v);
      case 'spath': return new NPath(this.findFile(e.v));
      case 'var': return this.lookup(e.name, env);
      case 'str': {
        if (e.parts.length === 1 && typeof e.parts[0] === 'string') return e.parts[0];
        const ctx = new Set<string>();
        let s = '';
        for (const p of e.parts) s += typeof p === 'string' ? p : this.coerceToString(this.eval(p, env), ctx, false, true);
        return mkStr(s, ctx);
      }
      case 'list': return e.items.map((i) => this.lazy(i, env));
      case 'attrs': return this.evalAttrs(e, env);
      case 'select': {
        let v: Value = this.eval(e.e, env);
        for (const k of e.path) {
          const name = this.attrName(k, env);
          if (!(v instanceof NAttrs)) {
            if (e.def) return this.eval(e.def, env);
            throw new EvalError(`value is ${typeName(v)} while a set was expected`);
          }
          const x = v.m.get(name);
          if (x === undefined) {
            if (e.def) return this.eval(e.def, env);
            throw new EvalError(`attribute '${name}' missing`);
          }
          v = force(x);
        }
        return v;
      }
      case 'has': {
        let v: Value = this.eval(e.e, env);
        for (const k of e.path) {
          if (!(v instanceof NAttrs)) return false;
          const x = v.m.get(this.attrName(k, env));
          if (x === undefined) return false;
          v = force(x);
        }
        return true;
      }
      case 'call': return this.call(this.eval(e.f, env), this.lazy(e.arg, env));
      case 'lambda': return new NLambda(e.arg, e.formals, e.body, env);
      case 'let': {
        const vars = new Map<string, Lazy>();
        const inner = new Env(vars, env);
        this.bindDefs(e.attrs, vars, inner, env);
        return this.eval(e.body, inner);
      }
      case 'with': return this.eval(e.body, new Env(null, env, this.lazy(e.env, env)));
      case 'assert': {
        if (!this.forceBool(this.eval(e.cond, env))) throw new EvalError('assertion failed');
        return this.eval(e.body, env);
      }
      case 'if': return this.forceBool(this.eval(e.cond, env)) ? this.eval(e.then, env) : this.eval(e.else, env);
      case 'not': return !this.forceBool(this.eval(e.e, env));
      case 'neg': return this.arith('-', 0n, this.eval(e.e, env));
      case 'op': return this.binop(e.op, e.a, e.b, env);
    }
  }

  private attrName(k: string | Expr, env: Env): string {
    return typeof k === 'string' ? k : this.forceStringNoCtx(this.eval(k, env));
  }

  /** Binds definitions (with nested paths merged) into `vars`; values see `valueEnv`, inherits see `inheritEnv`. */
  private bindDefs(defs: AttrDef[], vars: Map<string, Lazy>, valueEnv: Env, inheritEnv: Env): void {
    const nested = new Map<string, AttrDef[]>();
    for (const d of defs) {
      const k = d.path[0] as string;
      if (d.path.length > 1) {
        let l = nested.get(k);
        if (!l) nested.set(k, (l = []));
        l.push({ path: d.path.slice(1), value: d.value });
        continue;
      }
      if (vars.has(k) || nested.has(k)) throw new EvalError(`attribute '${k}' already defined`);
      vars.set(k, this.lazy(d.value, d.inherited && !d.from ? inheritEnv : valueEnv));
    }
    for (const [k, sub] of nested) {
      if (vars.has(k)) throw new EvalError(`attribute '${k}' already defined`);
      vars.set(k, this.lazy({ k: 'attrs', rec: false, attrs: sub.filter((d) => typeof d.path[0] === 'string'), dyn: sub.filter((d) => typeof d.path[0] !== 'string').map((d) => ({ key: d.path[0] as Expr, value: d.value })) }, valueEnv));
    }
  }

  private evalAttrs(e: Extract<Expr, { k: 'attrs' }>, env: Env): NAttrs {
    const m = new Map<string, Lazy>();
    const valueEnv = e.rec ? new Env(m, env) : env;
    this.bindDefs(e.attrs, m, valueEnv, env);
    for (const d of e.dyn) {
      const kv = this.eval(d.key, env);
      if (kv === null) continue;
      const k = this.forceStringNoCtx(kv);
      if (m.has(k)) throw new EvalError(`dynamic attribute '${k}' already defined`);
      m.set(k, this.lazy(d.value, valueEnv));
    }
    return new NAttrs(m);
  }

  private binop(op: string, ae: Expr, be: Expr, env: Env): Value {
    switch (op) {
      case '&&': return this.forceBool(this.eval(ae, env)) && this.forceBool(this.eval(be, env));
      case '||': return this.forceBool(this.eval(ae, env)) || this.forceBool(this.eval(be, env));
      case '->': return !this.forceBool(this.eval(ae, env)) || this.forceBool(this.eval(be, env));
    }
    const a = this.eval(ae, env);
    const b = this.eval(be, env);
    switch (op) {
      case '==': return this.equal(a, b);
      case '!=': return !this.equal(a, b);
      case '<': return this.less(a, b);
      case '>': return this.less(b, a);
      case '<=': return !this.less(b, a);
      case '>=': return !this.less(a, b);
      case '//': {
        const x = this.forceAttrs(a);
        const y = this.forceAttrs(b);
        if (y.m.size === 0) return x;
        if (x.m.size === 0) return y;
        const m = new Map(x.m);
        for (const [k, v] of y.m) m.set(k, v);
        return new NAttrs(m);
      }
      case '++': return [...this.forceList(a), ...this.forceList(b)];
      case '+': {
        if (a instanceof NPath) {
          const ctx = new Set<string>();
          const s = this.coerceToString(b, ctx, false, false);
          return new NPath(normPath(a.path + s));
        }
        const sa = strOf(a);
        if (sa) {
          const ctx = new Set(sa.ctx);
          return mkStr(sa.s + this.coerceToString(b, ctx, false, true), ctx);
        }
        return this.arith('+', a, b);
      }
      default: return this.arith(op, a, b);
    }
  }

  arith(op: string, a: Value, b: Value): Value {
    if (typeof a === 'bigint' && typeof b === 'bigint') {
      switch (op) {
        case '+': return BigInt.asIntN(64, a + b);
        case '-': return BigInt.asIntN(64, a - b);
        case '*': return BigInt.asIntN(64, a * b);
        case '/': if (b === 0n) throw new EvalError('division by zero'); return a / b;
      }
    }
    const x = this.num(a);
    const y = this.num(b);
    switch (op) {
      case '+': return new NFloat(x + y);
      case '-': return new NFloat(x - y);
      case '*': return new NFloat(x * y);
      case '/': if (y === 0) throw new EvalError('division by zero'); return new NFloat(x / y);
    }
    throw new EvalError(`unknown operator ${op}`);
  }

  private num(v: Value): number {
    if (typeof v === 'bigint') return Number(v);
    if (v instanceof NFloat) return v.v;
    throw new EvalError(`value is ${typeName(v)} while an integer was expected`);
  }

  less(a: Value, b: Value): boolean {
    if ((typeof a === 'bigint' || a instanceof NFloat) && (typeof b === 'bigint' || b instanceof NFloat)) {
      return typeof a === 'bigint' && typeof b === 'bigint' ? a < b : this.num(a) < this.num(b);
    }
    const sa = strOf(a);
    const sb = strOf(b);
    if (sa && sb) return sa.s < sb.s;
    if (a instanceof NPath && b instanceof NPath) return a.path < b.path;
    throw new EvalError(`cannot compare ${typeName(a)} with ${typeName(b)}`);
  }

  equal(a: Value, b: Value): boolean {
    if ((typeof a === 'bigint' || a instanceof NFloat) && (typeof b === 'bigint' || b instanceof NFloat)) {
      return typeof a === 'bigint' && typeof b === 'bigint' ? a === b : this.num(a) === this.num(b);
    }
    const sa = strOf(a);
    const sb = strOf(b);
    if (sa || sb) return !!sa && !!sb && sa.s === sb.s;
    if (a instanceof NPath || b instanceof NPath) return a instanceof NPath && b instanceof NPath && a.path === b.path;
    if (typeof a === 'boolean' || a === null) return a === b;
    if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => this.equal(force(x), force(b[i]!)));
    if (a instanceof NAttrs) {
      if (!(b instanceof NAttrs)) return false;
      if (a === b) return true;
      const ta = a.m.get('type');
      const tb = b.m.get('type');
      if (ta && tb && strOf(force(ta))?.s === 'derivation' && strOf(force(tb))?.s === 'derivation') {
        const oa = a.m.get('outPath');
        const ob = b.m.get('outPath');
        if (oa && ob) return this.equal(force(oa), force(ob));
      }
      if (a.m.size !== b.m.size) return false;
      for (const [k, v] of a.m) {
        const w = b.m.get(k);
        if (w === undefined || !this.equal(force(v), force(w))) return false;
      }
      return true;
    }
    return false;
  }

  call(f: Value, arg: Lazy): Value {
    if (f instanceof NLambda) {
      const vars = new Map<string, Lazy>();
      const env = new Env(vars, f.env);
      if (f.arg !== null) vars.set(f.arg, arg);
      if (f.formals) {
        const a = this.forceAttrs(force(arg));
        for (const { name, def } of f.formals.names) {
          const v = a.m.get(name);
          if (v !== undefined) vars.set(name, v);
          else if (def) vars.set(name, this.lazy(def, env));
          else throw new EvalError(`function called without required argument '${name}'`);
        }
        if (!f.formals.ellipsis) {
          for (const k of a.m.keys()) {
            if (!f.formals.names.some((n) => n.name === k)) throw new EvalError(`function called with unexpected argument '${k}'`);
          }
        }
      }
      return this.eval(f.body, env);
    }
    if (f instanceof NPrimop) {
      const args = [...f.args, arg];
      if (args.length < f.arity) return new NPrimop(f.name, f.arity, f.fn, args);
      return f.fn(...args);
    }
    if (f instanceof NAttrs && f.m.has('__functor')) {
      return this.call(this.call(force(f.m.get('__functor')!), f), arg);
    }
    throw new EvalError(`attempt to call something which is not a function but ${typeName(f)}`);
  }

  // ---- coercions -----------------------------------------------------------------------------

  forceBool(v: Value): boolean {
    if (typeof v !== 'boolean') throw new EvalError(`value is ${typeName(v)} while a Boolean was expected`);
    return v;
  }

  forceAttrs(l: Lazy): NAttrs {
    const v = force(l);
    if (!(v instanceof NAttrs)) throw new EvalError(`value is ${typeName(v)} while a set was expected`);
    return v;
  }

  forceList(l: Lazy): Lazy[] {
    const v = force(l);
    if (!Array.isArray(v)) throw new EvalError(`value is ${typeName(v)} while a list was expected`);
    return v;
  }

  forceInt(l: Lazy): bigint {
    const v = force(l);
    if (typeof v !== 'bigint') throw new EvalError(`value is ${typeName(v)} while an integer was expected`);
    return v;
  }

  forceString(l: Lazy, ctx: Set<string> | null): string {
    const v = force(l);
    const s = strOf(v);
    if (!s) throw new EvalError(`value is ${typeName(v)} while a string was expected`);
    if (ctx) for (const c of s.ctx) ctx.add(c);
    return s.s;
  }

  forceStringNoCtx(l: Lazy): string {
    const v = force(l);
    const s = strOf(v);
    if (!s) throw new EvalError(`value is ${typeName(v)} while a string was expected`);
    if (s.ctx.size) throw new EvalError(`the string '${s.s}' is not allowed to refer to a store path (such as '${[...s.ctx][0]!.replace(/^[=!][^!]*!?/, '')}')`);
    return s.s;
  }

  coerceToString(l: Lazy, ctx: Set<string>, coerceMore: boolean, copyToStore: boolean): string {
    const v = force(l);
    const s = strOf(v);
    if (s) { for (const c of s.ctx) ctx.add(c); return s.s; }
    if (v instanceof NPath) {
      if (!copyToStore) return v.path;
      const p = this.session.copyPathToStore(v.path);
      ctx.add(p);
      return p;
    }
    if (v instanceof NAttrs) {
      const ts = v.m.get('__toString');
      if (ts !== undefined) return this.coerceToString(this.call(force(ts), v), ctx, coerceMore, copyToStore);
      const op = v.m.get('outPath');
      if (op === undefined) throw new EvalError('cannot coerce a set to a string');
      return this.coerceToString(op, ctx, coerceMore, copyToStore);
    }
    if (coerceMore) {
      if (v === true) return '1';
      if (v === false || v === null) return '';
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof NFloat) return floatToString(v.v);
      if (Array.isArray(v)) {
        let r = '';
        v.forEach((x, n) => {
          const xv = force(x);
          r += this.coerceToString(xv, ctx, coerceMore, copyToStore);
          if (n < v.length - 1 && !(Array.isArray(xv) && xv.length === 0)) r += ' ';
        });
        return r;
      }
    }
    throw new EvalError(`cannot coerce ${typeName(v)} to a string`);
  }

  toJSON(l: Lazy, ctx: Set<string>): string {
    const v = force(l);
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (v === null) return 'null';
    if (v instanceof NFloat) return floatToJson(v.v);
    const s = strOf(v);
    if (s) { for (const c of s.ctx) ctx.add(c); return nixJsonString(s.s); }
    if (v instanceof NPath) { const p = this.session.copyPathToStore(v.path); ctx.add(p); return nixJsonString(p); }
    if (Array.isArray(v)) return '[' + v.map((x) => this.toJSON(x, ctx)).join(',') + ']';
    if (v instanceof NAttrs) {
      if (v.m.has('__toString')) return nixJsonString(this.coerceToString(v, ctx, false, true));
      const op = v.m.get('outPath');
      if (op !== undefined) return this.toJSON(op, ctx);
      return '{' + [...v.m.keys()].sort().map((k) => nixJsonString(k) + ':' + this.toJSON(v.m.get(k)!, ctx)).join(',') + '}';
    }
    throw new EvalError(`cannot convert ${typeName(v)} to JSON`);
  }

  coerceToPath(l: Lazy, ctx: Set<string>): string {
    const p = this.coerceToString(l, ctx, false, false);
    if (!p.startsWith('/')) throw new EvalError(`string '${p}' doesn't represent an absolute path`);
    return p;
  }

  findFile(spath: string): string {
    const slash = spath.indexOf('/');
    const head = slash < 0 ? spath : spath.slice(0, slash);
    const rest = slash < 0 ? '' : spath.slice(slash);
    for (const e of this.searchPath) {
      if (e.prefix === '' ) { const p = e.path + '/' + spath; if (existsSync(p)) return p; }
      else if (e.prefix === head && existsSync(e.path + rest)) return e.path + rest;
    }
    if (head === 'nix' && COREPKGS[rest.slice(1)] !== undefined) return `//corepkgs/${rest.slice(1)}`;
    throw new EvalError(`file '${spath}' was not found in the Nix search path (add it using $NIX_PATH or -I)`);
  }

  importPath(p: string): Value {
    if (p.startsWith('//corepkgs/')) {
      const name = p.slice('//corepkgs/'.length);
      const cached = this.fileCache.get(p);
      if (cached !== undefined) return cached;
      const v = this.eval(parseNix(COREPKGS[name]!, p, '/'), this.baseEnv);
      this.fileCache.set(p, v);
      return v;
    }
    return this.evalFile(p);
  }

  // ---- builtins ------------------------------------------------------------------------------

  private defineBuiltins(b: Map<string, Lazy>): void {
    const def = (name: string, arity: number, fn: (...a: Lazy[]) => Value): void => { b.set(name, new NPrimop(name, arity, fn)); };
    const S = (l: Lazy): string => this.forceStringNoCtx(l);
    const host = this.host;
    const prim = derivationPrimops(host, this.session);
    for (const [name, fn] of Object.entries(prim)) def(name.replace(/^__/, ''), fn.length, fn as (...a: Lazy[]) => Value);
    def('toString', 1, (x) => { const ctx = new Set<string>(); const s = this.coerceToString(x, ctx, true, false); return mkStr(s, ctx); });
    def('map', 2, (f, l) => this.forceList(l).map((x) => new Thunk(() => this.call(force(f), x))));
    def('genList', 2, (f, n) => { const c = Number(this.forceInt(n)); const fv = force(f); return Array.from({ length: c }, (_, i) => new Thunk(() => this.call(fv, BigInt(i)))); });
    def('elemAt', 2, (l, n) => { const xs = this.forceList(l); const i = Number(this.forceInt(n)); if (i < 0 || i >= xs.length) throw new EvalError(`list index ${i} is out of bounds`); return force(xs[i]!); });
    def('head', 1, (l) => { const xs = this.forceList(l); if (!xs.length) throw new EvalError('list index 0 is out of bounds'); return force(xs[0]!); });
    def('tail', 1, (l) => { const xs = this.forceList(l); if (!xs.length) throw new EvalError("'tail' called on an empty list"); return xs.slice(1); });
    def('length', 1, (l) => BigInt(this.forceList(l).length));
    def('listToAttrs', 1, (l) => {
      const m = new Map<string, Lazy>();
      for (const x of this.forceList(l)) {
        const a = this.forceAttrs(x);
        const n = S(a.m.get('name') ?? (() => { throw new EvalError("attribute 'name' missing"); })());
        if (!m.has(n)) m.set(n, a.m.get('value') ?? new Thunk(() => { throw new EvalError("attribute 'value' missing"); }));
      }
      return new NAttrs(m);
    });
    def('getAttr', 2, (n, s) => { const k = S(n); const v = this.forceAttrs(s).m.get(k); if (v === undefined) throw new EvalError(`attribute '${k}' missing`); return force(v); });
    def('hasAttr', 2, (n, s) => this.forceAttrs(s).m.has(S(n)));
    def('attrNames', 1, (s) => [...this.forceAttrs(s).m.keys()].sort());
    def('attrValues', 1, (s) => { const a = this.forceAttrs(s); return [...a.m.keys()].sort().map((k) => a.m.get(k)!); });
    def('removeAttrs', 2, (s, l) => { const m = new Map(this.forceAttrs(s).m); for (const k of this.forceList(l)) m.delete(S(k)); return new NAttrs(m); });
    def('concatStringsSep', 2, (sep, l) => {
      const ctx = new Set<string>();
      const sp = this.forceString(sep, ctx);
      return mkStr(this.forceList(l).map((x) => this.coerceToString(x, ctx, false, true)).join(sp), ctx);
    });
    def('match', 2, (re, s) => {
      const m = new RegExp(`^(?:${S(re)})$`, 's').exec(this.forceString(s, null));
      return m ? m.slice(1).map((g) => (g === undefined ? null : g)) : null;
    });
    def('add', 2, (a, c) => this.arith('+', force(a), force(c)));
    def('sub', 2, (a, c) => this.arith('-', force(a), force(c)));
    def('mul', 2, (a, c) => this.arith('*', force(a), force(c)));
    def('div', 2, (a, c) => this.arith('/', force(a), force(c)));
    def('lessThan', 2, (a, c) => this.less(force(a), force(c)));
    def('unsafeDiscardStringContext', 1, (s) => { const ctx = new Set<string>(); return this.coerceToString(s, ctx, false, true); });
    def('hasContext', 1, (s) => { const ctx = new Set<string>(); this.forceString(s, ctx); return ctx.size > 0; });
    def('typeOf', 1, (x) => typeOf(force(x)));
    def('isAttrs', 1, (x) => force(x) instanceof NAttrs);
    def('isList', 1, (x) => Array.isArray(force(x)));
    def('isString', 1, (x) => strOf(force(x)) !== null);
    def('isInt', 1, (x) => typeof force(x) === 'bigint');
    def('isBool', 1, (x) => typeof force(x) === 'boolean');
    def('isNull', 1, (x) => force(x) === null);
    def('isFunction', 1, (x) => { const v = force(x); return v instanceof NLambda || v instanceof NPrimop; });
    def('concatLists', 1, (l) => this.forceList(l).flatMap((x) => this.forceList(x)));
    def('filter', 2, (f, l) => { const fv = force(f); return this.forceList(l).filter((x) => this.forceBool(this.call(fv, x))); });
    def('elem', 2, (x, l) => this.forceList(l).some((y) => this.equal(force(x), force(y))));
    def('toJSON', 1, (x) => { const ctx = new Set<string>(); return mkStr(this.toJSON(x, ctx), ctx); });
    def('seq', 2, (a, c) => { force(a); return force(c); });
    def("foldl'", 3, (f, z, l) => { const fv = force(f); let acc: Value = force(z); for (const x of this.forceList(l)) acc = this.call(this.call(fv, acc) as Value, x); return acc; });
    def('mapAttrs', 2, (f, s) => { const fv = force(f); const m = new Map<string, Lazy>(); for (const [k, v] of this.forceAttrs(s).m) m.set(k, new Thunk(() => this.call(this.call(fv, k), v))); return new NAttrs(m); });
    def('throw', 1, (s) => { throw new EvalError(S(s)); });
    def('abort', 1, (s) => { throw new EvalError(`evaluation aborted with the following error message: '${S(s)}'`); });
    def('trace', 2, (m, x) => { process.stderr.write(`trace: ${this.coerceToString(m, new Set(), true, false)}\n`); return force(x); });
    def('baseNameOf', 1, (s) => { const ctx = new Set<string>(); const p = this.coerceToString(s, ctx, false, false).replace(/\/+$/, ''); return mkStr(p.slice(p.lastIndexOf('/') + 1), ctx); });
    def('dirOf', 1, (s) => { const v = force(s); if (v instanceof NPath) return new NPath(dirname(v.path)); const ctx = new Set<string>(); const p = this.coerceToString(v, ctx, false, false); const i = p.lastIndexOf('/'); return mkStr(i <= 0 ? (i === 0 ? '/' : '.') : p.slice(0, i), ctx); });
    def('stringLength', 1, (s) => BigInt(Buffer.byteLength(this.coerceToString(s, new Set(), false, true))));
    def('substring', 3, (st, len, s) => { const ctx = new Set<string>(); const str = this.coerceToString(s, ctx, false, true); const a = Number(this.forceInt(st)); const n = Number(this.forceInt(len)); return mkStr(str.slice(a, n < 0 ? undefined : a + n), ctx); });
    def('readFile', 1, (p) => readFileSync(this.coerceToPath(p, new Set()), 'utf8'));
    def('pathExists', 1, (p) => existsSync(this.coerceToPath(p, new Set())));
    def('import', 1, (p) => { const v = force(p); return this.importPath(v instanceof NPath ? v.path : this.coerceToPath(v, new Set())); });
    def('all', 2, (f, l) => { const fv = force(f); return this.forceList(l).every((x) => this.forceBool(this.call(fv, x))); });
    def('any', 2, (f, l) => { const fv = force(f); return this.forceList(l).some((x) => this.forceBool(this.call(fv, x))); });
    def('intersectAttrs', 2, (a, c) => { const x = this.forceAttrs(a); const m = new Map<string, Lazy>(); for (const [k, v] of this.forceAttrs(c).m) if (x.m.has(k)) m.set(k, v); return new NAttrs(m); });
    def('catAttrs', 2, (n, l) => { const k = S(n); return this.forceList(l).map((x) => this.forceAttrs(x).m.get(k)).filter((x): x is Lazy => x !== undefined); });
    b.set('currentSystem', 'x86_64-linux');
  }

  private makeHost(): DrvHost<Lazy> {
    const ev = this;
    return {
      attrs: (v) => ev.forceAttrs(v).m,
      forceBool: (v) => ev.forceBool(force(v)),
      isNull: (v) => force(v) === null,
      forceList: (v) => ev.forceList(v),
      forceStringNoCtx: (v) => ev.forceStringNoCtx(v),
      forceString: (v, ctx) => ev.forceString(v, ctx),
      coerceToString: (v, ctx) => ev.coerceToString(v, ctx, true, true),
      toJSON: (v, ctx) => ev.toJSON(v, ctx),
      mkString: (s, ctx) => mkStr(s, ctx),
      mkAttrs: (m) => new NAttrs(m),
      isAttrs: (v) => force(v) instanceof NAttrs,
      isFunction: (v) => { const x = force(v); return x instanceof NLambda || x instanceof NPrimop; },
      call: (f, args) => { let r: Value = force(f); for (const a of args) r = ev.call(r, a); return r; },
      coerceToPath: (v, ctx) => ev.coerceToPath(v, ctx),
      showType: (v) => typeName(force(v)),
    };
  }

  /** The view nix-instantiate's logic needs. */
  instantiateView(): InstantiateEvaluator<Lazy> {
    const ev = this;
    return {
      host: this.host,
      kind: (v) => { const x = force(v); return x instanceof NAttrs ? 'attrs' : Array.isArray(x) ? 'list' : x instanceof NLambda || x instanceof NPrimop ? 'function' : 'other'; },
      autoCall: (v, autoArgs) => ev.autoCall(force(v), autoArgs),
      findAlongAttrPath: (v, attrPath, autoArgs) => ev.findAlongAttrPath(force(v), attrPath, autoArgs),
      identity: (v) => force(v) as NAttrs,
    };
  }

  autoCall(v: Value, autoArgs: Map<string, Lazy>): Value {
    if (v instanceof NAttrs && v.m.has('__functor')) return this.autoCall(this.call(force(v.m.get('__functor')!), v), autoArgs);
    if (!(v instanceof NLambda)) return v;
    if (!v.formals) return v;
    const m = new Map<string, Lazy>();
    if (v.formals.ellipsis) for (const [k, x] of autoArgs) m.set(k, x);
    else for (const { name } of v.formals.names) { const x = autoArgs.get(name); if (x !== undefined) m.set(name, x); }
    return this.call(v, new NAttrs(m));
  }

  findAlongAttrPath(v: Value, attrPath: string, autoArgs: Map<string, Lazy>): Value {
    let cur = this.autoCall(v, autoArgs);
    if (attrPath === '') return cur;
    for (const key of attrPath.split('.')) {
      cur = this.autoCall(cur, autoArgs);
      if (/^\d+$/.test(key) && Array.isArray(cur)) {
        const i = Number(key);
        if (i >= cur.length) throw new EvalError(`list index ${i} in selection path '${attrPath}' is out of range`);
        cur = force(cur[i]!);
      } else {
        if (!(cur instanceof NAttrs)) throw new EvalError(`the expression selected by the selection path '${attrPath}' should be a set but is ${typeName(cur)}`);
        const x = cur.m.get(key);
        if (x === undefined) throw new EvalError(`attribute '${key}' in selection path '${attrPath}' not found`);
        cur = force(x);
      }
    }
    return cur;
  }
}

function normPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}
