// STOPGAP (until the project's evaluator in eval/ exists): a compact Nix parser for the subset of
// the language that derivation instantiation uses. Not the project's evaluator; replace it.
import { TsixError } from '../../../store/errors.js';

export class NixSyntaxError extends TsixError {
  constructor(message: string, file: string, offset: number) {
    super('E_PARSE', `syntax error, ${message}, at ${file}:${offset}`, { file, offset });
  }
}

export type Expr =
  | { k: 'int'; v: bigint }
  | { k: 'float'; v: number }
  | { k: 'str'; parts: (string | Expr)[] }
  | { k: 'path'; v: string }
  | { k: 'spath'; v: string }
  | { k: 'var'; name: string }
  | { k: 'list'; items: Expr[] }
  | { k: 'attrs'; rec: boolean; attrs: AttrDef[]; dyn: { key: Expr; value: Expr }[] }
  | { k: 'select'; e: Expr; path: AttrKey[]; def: Expr | null }
  | { k: 'has'; e: Expr; path: AttrKey[] }
  | { k: 'call'; f: Expr; arg: Expr }
  | { k: 'lambda'; arg: string | null; formals: Formals | null; body: Expr }
  | { k: 'let'; attrs: AttrDef[]; body: Expr }
  | { k: 'with'; env: Expr; body: Expr }
  | { k: 'assert'; cond: Expr; body: Expr }
  | { k: 'if'; cond: Expr; then: Expr; else: Expr }
  | { k: 'op'; op: string; a: Expr; b: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'neg'; e: Expr };

export type AttrKey = string | Expr;
export interface AttrDef { path: AttrKey[]; value: Expr; inherited?: boolean; from?: Expr }
export interface Formals { names: { name: string; def: Expr | null }[]; ellipsis: boolean }

type Tok = { t: string; v: string; pos: number; parts?: (string | Tok[])[] };

const KEYWORDS = new Set(['let', 'in', 'rec', 'with', 'inherit', 'if', 'then', 'else', 'assert', 'or']);
const PUNCT = ['...', '++', '//', '==', '!=', '<=', '>=', '&&', '||', '->', '${', '{', '}', '[', ']', '(', ')', ';', ':', '=', '.', ',', '?', '@', '+', '-', '*', '/', '<', '>', '!'];

class Lexer {
  i = 0;
  constructor(readonly s: string, readonly file: string) {}
  fail(msg: string, at = this.i): never { throw new NixSyntaxError(msg, this.file, at); }

  skip(): void {
    for (;;) {
      const c = this.s[this.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.i++;
      else if (c === '#') { while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++; }
      else if (c === '/' && this.s[this.i + 1] === '*') {
        const end = this.s.indexOf('*/', this.i + 2);
        if (end < 0) this.fail('unterminated comment');
        this.i = end + 2;
      } else return;
    }
  }

  /** All tokens up to the end, or up to the '}' closing an interpolation (depth 0). */
  tokens(untilBrace: boolean): Tok[] {
    const out: Tok[] = [];
    let depth = 0;
    for (;;) {
      this.skip();
      if (this.i >= this.s.length) {
        if (untilBrace) this.fail('unterminated interpolation');
        out.push({ t: 'eof', v: '', pos: this.i });
        return out;
      }
      const pos = this.i;
      const c = this.s[this.i]!;
      if (untilBrace && c === '}' && depth === 0) { this.i++; return out; }
      if (c === '"') { out.push(this.string(pos)); continue; }
      if (c === "'" && this.s[this.i + 1] === "'") { out.push(this.indString(pos)); continue; }
      const path = /(?:\.{0,2}|~|[a-zA-Z0-9._\-+]*)(?:\/[a-zA-Z0-9._\-+]+)+\/?/y;
      path.lastIndex = this.i;
      const pm = path.exec(this.s);
      if (pm && (pm[0].startsWith('/') || pm[0].startsWith('./') || pm[0].startsWith('../') || pm[0].startsWith('~/') || /^[a-zA-Z0-9._\-+]+\//.test(pm[0]))) {
        if (!pm[0].startsWith('//')) { this.i += pm[0].length; out.push({ t: 'path', v: pm[0], pos }); continue; }
      }
      if (c === '<') {
        const m = /<([a-zA-Z0-9._\-+]+(?:\/[a-zA-Z0-9._\-+]+)*)>/y;
        m.lastIndex = this.i;
        const mm = m.exec(this.s);
        if (mm) { this.i += mm[0].length; out.push({ t: 'spath', v: mm[1]!, pos }); continue; }
      }
      const num = /(?:(\d+\.\d*|\.\d+)(?:[Ee][+-]?\d+)?|\d+[Ee][+-]?\d+|(\d+))/y;
      num.lastIndex = this.i;
      const nm = num.exec(this.s);
      if (nm && /[0-9.]/.test(c)) {
        this.i += nm[0].length;
        out.push({ t: nm[2] !== undefined ? 'int' : 'float', v: nm[0], pos });
        continue;
      }
      const id = /[a-zA-Z_][a-zA-Z0-9_'\-]*/y;
      id.lastIndex = this.i;
      const im = id.exec(this.s);
      if (im) {
        this.i += im[0].length;
        out.push({ t: KEYWORDS.has(im[0]) ? im[0] : 'id', v: im[0], pos });
        continue;
      }
      const p = PUNCT.find((x) => this.s.startsWith(x, this.i));
      if (!p) this.fail(`unexpected character '${c}'`);
      this.i += p.length;
      if (p === '{' || p === '${') depth++;
      if (p === '}') depth--;
      out.push({ t: p, v: p, pos });
    }
  }

  string(pos: number): Tok {
    this.i++;
    const parts: (string | Tok[])[] = [];
    let cur = '';
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) this.fail('unterminated string', pos);
      if (c === '"') { this.i++; break; }
      if (c === '\\') {
        const e = this.s[this.i + 1];
        if (e === undefined) this.fail('unterminated string', pos);
        cur += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        this.i += 2;
      } else if (c === '$' && this.s[this.i + 1] === '{') {
        if (cur) parts.push(cur);
        cur = '';
        this.i += 2;
        parts.push(this.tokens(true));
      } else if (c === '$' && this.s[this.i + 1] === '$') {
        cur += '$$';
        this.i += 2;
      } else {
        cur += c;
        this.i++;
      }
    }
    if (cur) parts.push(cur);
    return { t: 'str', v: '', pos, parts };
  }

  indString(pos: number): Tok {
    this.i += 2;
    const raw: (string | Tok[])[] = [];
    let cur = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated indented string', pos);
      if (this.s.startsWith("'''", this.i)) { cur += "''"; this.i += 3; continue; }
      if (this.s.startsWith("''$", this.i)) { cur += '$'; this.i += 3; continue; }
      if (this.s.startsWith("''\\", this.i)) {
        const e = this.s[this.i + 3]!;
        cur += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        this.i += 4;
        continue;
      }
      if (this.s.startsWith("''", this.i)) { this.i += 2; break; }
      if (this.s.startsWith('${', this.i)) {
        raw.push(cur); cur = '';
        this.i += 2;
        raw.push(this.tokens(true));
        continue;
      }
      cur += this.s[this.i++];
    }
    raw.push(cur);
    return { t: 'str', v: '', pos, parts: stripIndentation(raw) };
  }
}

/** Nix's indented-string indentation stripping (interpolations count as non-space content). */
function stripIndentation(parts: (string | Tok[])[]): (string | Tok[])[] {
  // Find the minimum indentation over lines that have content.
  let min = Infinity;
  let atLineStart = true;
  let col = 0;
  for (const p of parts) {
    if (typeof p !== 'string') {
      if (atLineStart) { min = Math.min(min, col); atLineStart = false; }
      continue;
    }
    for (const ch of p) {
      if (atLineStart) {
        if (ch === ' ') col++;
        else if (ch === '\n') col = 0;
        else { min = Math.min(min, col); atLineStart = false; }
      } else if (ch === '\n') { atLineStart = true; col = 0; }
    }
  }
  if (min === Infinity) min = 0;
  const out: (string | Tok[])[] = [];
  atLineStart = true;
  col = 0;
  for (const p of parts) {
    if (typeof p !== 'string') { out.push(p); atLineStart = false; continue; }
    let s = '';
    for (const ch of p) {
      if (atLineStart) {
        if (ch === ' ' && col < min) { col++; continue; }
        if (ch === '\n') { s += ch; col = 0; continue; }
        atLineStart = false;
      }
      s += ch;
      if (ch === '\n') { atLineStart = true; col = 0; }
    }
    out.push(s);
  }
  // Strip the first line if it is only whitespace, and trailing spaces on the last line.
  if (typeof out[0] === 'string') {
    const m = /^[ \t]*\n/.exec(out[0]);
    if (m) out[0] = out[0].slice(m[0].length);
  }
  const last = out.length - 1;
  if (typeof out[last] === 'string') {
    const m = /\n[ \t]*$/.exec(out[last] as string);
    if (m) out[last] = (out[last] as string).slice(0, m.index + 1);
    else if (/^[ \t]*$/.test(out[last] as string) && last > 0) out[last] = '';
  }
  return out.filter((p) => p !== '');
}

class Parser {
  i = 0;
  constructor(readonly toks: Tok[], readonly file: string, readonly dir: string) {}
  peek(o = 0): Tok { return this.toks[this.i + o]!; }
  next(): Tok { return this.toks[this.i++]!; }
  fail(msg: string): never { throw new NixSyntaxError(msg, this.file, this.peek().pos); }
  expect(t: string): Tok {
    const tok = this.next();
    if (tok.t !== t) { this.i--; this.fail(`unexpected '${tok.v || tok.t}', expecting '${t}'`); }
    return tok;
  }

  top(): Expr {
    const e = this.expr();
    if (this.peek().t !== 'eof') this.fail(`unexpected '${this.peek().v}'`);
    return e;
  }

  expr(): Expr {
    const t = this.peek();
    if (t.t === 'let') {
      this.next();
      if (this.peek().t === '{') this.fail('legacy let { } is not supported');
      const attrs = this.binds('in');
      this.expect('in');
      return { k: 'let', attrs, body: this.expr() };
    }
    if (t.t === 'with') { this.next(); const env = this.expr(); this.expect(';'); return { k: 'with', env, body: this.expr() }; }
    if (t.t === 'assert') { this.next(); const cond = this.expr(); this.expect(';'); return { k: 'assert', cond, body: this.expr() }; }
    if (t.t === 'if') {
      this.next();
      const cond = this.expr(); this.expect('then');
      const th = this.expr(); this.expect('else');
      return { k: 'if', cond, then: th, else: this.expr() };
    }
    if (t.t === 'id' && this.peek(1).t === ':') { this.i += 2; return { k: 'lambda', arg: t.v, formals: null, body: this.expr() }; }
    if (t.t === 'id' && this.peek(1).t === '@') {
      this.i += 2;
      const formals = this.formals();
      this.expect(':');
      return { k: 'lambda', arg: t.v, formals, body: this.expr() };
    }
    if (t.t === '{' && this.isFormals()) {
      const formals = this.formals();
      let arg: string | null = null;
      if (this.peek().t === '@') { this.next(); arg = this.expect('id').v; }
      this.expect(':');
      return { k: 'lambda', arg, formals, body: this.expr() };
    }
    return this.binary(0);
  }

  isFormals(): boolean {
    const a = this.peek(1);
    const b = this.peek(2);
    if (a.t === '}') return b.t === ':' || b.t === '@';
    if (a.t === '...') return true;
    return a.t === 'id' && (b.t === ',' || b.t === '?' || (b.t === '}' && (this.peek(3).t === ':' || this.peek(3).t === '@')));
  }

  formals(): Formals {
    this.expect('{');
    const names: Formals['names'] = [];
    let ellipsis = false;
    while (this.peek().t !== '}') {
      if (this.peek().t === '...') { this.next(); ellipsis = true; }
      else {
        const name = this.expect('id').v;
        let def: Expr | null = null;
        if (this.peek().t === '?') { this.next(); def = this.expr(); }
        names.push({ name, def });
      }
      if (this.peek().t === ',') this.next();
      else if (this.peek().t !== '}') this.fail(`unexpected '${this.peek().v}' in formals`);
    }
    this.next();
    return { names, ellipsis };
  }

  static readonly LEVELS: { ops: string[]; right?: boolean; nonassoc?: boolean }[] = [
    { ops: ['->'], right: true },
    { ops: ['||'] },
    { ops: ['&&'] },
    { ops: ['==', '!='], nonassoc: true },
    { ops: ['<', '<=', '>', '>='], nonassoc: true },
    { ops: ['//'], right: true },
  ];

  binary(level: number): Expr {
    if (level === Parser.LEVELS.length) return this.notExpr();
    const L = Parser.LEVELS[level]!;
    const a = this.binary(level + 1);
    if (L.right) {
      if (L.ops.includes(this.peek().t)) { const op = this.next().t; return { k: 'op', op, a, b: this.binary(level) }; }
      return a;
    }
    let e = a;
    while (L.ops.includes(this.peek().t)) { const op = this.next().t; e = { k: 'op', op, a: e, b: this.binary(level + 1) }; }
    return e;
  }

  notExpr(): Expr {
    if (this.peek().t === '!') { this.next(); return { k: 'not', e: this.notExpr() }; }
    return this.additive();
  }

  additive(): Expr {
    let e = this.multiplicative();
    while (this.peek().t === '+' || this.peek().t === '-') { const op = this.next().t; e = { k: 'op', op, a: e, b: this.multiplicative() }; }
    return e;
  }

  multiplicative(): Expr {
    let e = this.concat();
    while (this.peek().t === '*' || this.peek().t === '/') { const op = this.next().t; e = { k: 'op', op, a: e, b: this.concat() }; }
    return e;
  }

  concat(): Expr {
    const a = this.hasAttr();
    if (this.peek().t === '++') { this.next(); return { k: 'op', op: '++', a, b: this.concat() }; }
    return a;
  }

  hasAttr(): Expr {
    let e = this.negation();
    while (this.peek().t === '?') { this.next(); e = { k: 'has', e, path: this.attrPath() }; }
    return e;
  }

  negation(): Expr {
    if (this.peek().t === '-') { this.next(); return { k: 'neg', e: this.negation() }; }
    return this.application();
  }

  application(): Expr {
    let f = this.selectExpr();
    while (this.startsAtom()) f = { k: 'call', f, arg: this.selectExpr() };
    return f;
  }

  startsAtom(): boolean {
    const t = this.peek().t;
    return t === 'id' || t === 'int' || t === 'float' || t === 'str' || t === 'path' || t === 'spath' || t === '(' || t === '[' || t === '{' || t === 'rec' || t === 'let' && false;
  }

  selectExpr(): Expr {
    const e = this.atom();
    if (this.peek().t !== '.') return e;
    this.next();
    const path = this.attrPath();
    let def: Expr | null = null;
    if (this.peek().t === 'or') { this.next(); def = this.selectExpr(); }
    return { k: 'select', e, path, def };
  }

  attrPath(): AttrKey[] {
    const path: AttrKey[] = [this.attrKey()];
    while (this.peek().t === '.') { this.next(); path.push(this.attrKey()); }
    return path;
  }

  attrKey(): AttrKey {
    const t = this.next();
    if (t.t === 'id' || t.t === 'or' || KEYWORDS.has(t.t) && t.t !== 'in') return t.v;
    if (t.t === 'str') { const e = this.strExpr(t); return e.k === 'str' && e.parts.every((p) => typeof p === 'string') ? e.parts.join('') : e; }
    if (t.t === '${') { const e = this.sub(this.untilClose()); return e; }
    this.i--;
    return this.fail(`unexpected '${t.v}' in attribute path`);
  }

  /** Tokens of a `${ … }` in attribute position, up to the matching '}'. */
  untilClose(): Tok[] {
    let depth = 0;
    const start = this.i;
    for (;;) {
      const t = this.next();
      if (t.t === 'eof') this.fail('unterminated ${');
      if (t.t === '{' || t.t === '${') depth++;
      if (t.t === '}') { if (depth === 0) break; depth--; }
    }
    return [...this.toks.slice(start, this.i - 1), { t: 'eof', v: '', pos: this.peek().pos }];
  }

  sub(toks: Tok[]): Expr {
    const last = toks[toks.length - 1];
    const list = last && last.t === 'eof' ? toks : [...toks, { t: 'eof', v: '', pos: 0 }];
    return new Parser(list, this.file, this.dir).top();
  }

  strExpr(t: Tok): Expr {
    return { k: 'str', parts: t.parts!.map((p) => (typeof p === 'string' ? p : this.sub(p))) };
  }

  atom(): Expr {
    const t = this.next();
    switch (t.t) {
      case 'int': return { k: 'int', v: BigInt(t.v) };
      case 'float': return { k: 'float', v: parseFloat(t.v) };
      case 'str': return this.strExpr(t);
      case 'path': return { k: 'path', v: resolvePath(t.v, this.dir) };
      case 'spath': return { k: 'spath', v: t.v };
      case 'id': return { k: 'var', name: t.v };
      case '(': { const e = this.expr(); this.expect(')'); return e; }
      case '[': {
        const items: Expr[] = [];
        while (this.peek().t !== ']') items.push(this.selectExpr());
        this.next();
        return { k: 'list', items };
      }
      case 'rec': this.expect('{'); return this.attrSet(true);
      case '{': return this.attrSet(false);
      default:
        this.i--;
        return this.fail(`unexpected '${t.v || t.t}'`);
    }
  }

  attrSet(rec: boolean): Expr {
    const all = this.binds('}');
    this.expect('}');
    const attrs = all.filter((a) => typeof a.path[0] === 'string');
    const dyn = all.filter((a) => typeof a.path[0] !== 'string').map((a) => ({ key: a.path[0] as Expr, value: nest(a.path.slice(1), a.value) }));
    return { k: 'attrs', rec, attrs, dyn };
  }

  binds(end: string): AttrDef[] {
    const out: AttrDef[] = [];
    while (this.peek().t !== end) {
      if (this.peek().t === 'inherit') {
        this.next();
        let from: Expr | undefined;
        if (this.peek().t === '(') { this.next(); from = this.expr(); this.expect(')'); }
        while (this.peek().t !== ';') {
          const key = this.attrKey();
          if (typeof key !== 'string') this.fail('dynamic attribute in inherit');
          out.push({ path: [key], value: from ? { k: 'select', e: from, path: [key], def: null } : { k: 'var', name: key }, inherited: true, from });
        }
        this.next();
        continue;
      }
      const path = this.attrPath();
      this.expect('=');
      const value = this.expr();
      this.expect(';');
      out.push({ path, value });
    }
    return out;
  }
}

function nest(path: AttrKey[], value: Expr): Expr {
  if (path.length === 0) return value;
  return { k: 'attrs', rec: false, attrs: [{ path, value }], dyn: [] };
}

function resolvePath(p: string, dir: string): string {
  let abs = p.startsWith('/') ? p : p.startsWith('~/') ? (process.env.HOME ?? '') + p.slice(1) : dir + '/' + p;
  const parts: string[] = [];
  for (const seg of abs.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  abs = '/' + parts.join('/');
  return abs;
}

export function parseNix(text: string, file: string, dir: string): Expr {
  const toks = new Lexer(text, file).tokens(false);
  return new Parser(toks, file, dir).top();
}
