// Recursive-descent parser for Nix 2.8 (grammar and precedences of src/libexpr/parser.y).
import { homedir } from 'node:os';
import {
  ExprAssert, ExprAttrs, ExprBinBool, ExprCall, ExprConcatLists, ExprConcatStrings, ExprConst, ExprEq, ExprHasAttr,
  ExprIf, ExprLambda, ExprPart, setLambdaName, ExprLet, ExprList, ExprNot, ExprPos, primCall, ExprSearchPath, ExprSelect, ExprUpdate, ExprVar, ExprWith,
  type AttrName, type Expr, type Formal, type Scope,
} from './ast.js';
import { NixParseError, registerSource, showPosParen, type Pos } from './errors.js';
import { Lexer, type Tok } from './lexer.js';
import { NixFloat, NixPath, mkInt } from './values.js';
import { canonPath } from './paths.js';

/** Binary operators: precedence (higher binds tighter) and associativity. */
const BINOPS: Record<string, { prec: number; assoc: 'l' | 'r' | 'n' }> = {
  '->': { prec: 1, assoc: 'r' },
  '||': { prec: 2, assoc: 'l' },
  '&&': { prec: 3, assoc: 'l' },
  '==': { prec: 4, assoc: 'n' }, '!=': { prec: 4, assoc: 'n' },
  '<': { prec: 5, assoc: 'n' }, '>': { prec: 5, assoc: 'n' }, '<=': { prec: 5, assoc: 'n' }, '>=': { prec: 5, assoc: 'n' },
  '//': { prec: 6, assoc: 'r' },
  '+': { prec: 8, assoc: 'l' }, '-': { prec: 8, assoc: 'l' },
  '*': { prec: 9, assoc: 'l' }, '/': { prec: 9, assoc: 'l' },
  '++': { prec: 10, assoc: 'r' },
  '?': { prec: 11, assoc: 'l' },
};
const PREC_NOT = 7;
const PREC_NEGATE = 12;

/** A token as Nix 2.8's bison parser names it in "unexpected …" messages. */
function describe(t: Tok): string {
  switch (t.t) {
    case 'EOF': return 'end of file';
    case 'ID': return 'ID';
    case 'INT': return 'INT';
    case 'FLOAT': return 'FLOAT';
    case 'PATH': case 'IPATH': return 'PATH';
    case 'HPATH': return 'HPATH';
    case 'SPATH': return 'SPATH';
    case 'URI': return 'URI';
    case 'STR': return t.ind ? 'IND_STRING_OPEN' : "'\"'";
    case 'OP': {
      const named: Record<string, string> = {
        '...': 'ELLIPSIS', '${': 'DOLLAR_CURLY', '==': 'EQ', '!=': 'NEQ', '<=': 'LEQ', '>=': 'GEQ', '&&': 'AND', '||': 'OR', '->': 'IMPL', '//': 'UPDATE', '++': 'CONCAT',
        if: 'IF', then: 'THEN', else: 'ELSE', assert: 'ASSERT', with: 'WITH', let: 'LET', in: 'IN', rec: 'REC', inherit: 'INHERIT', or: 'OR_KW',
      };
      return named[t.v] ?? `'${t.v}'`;
    }
  }
}

class Parser {
  private k = 0;
  constructor(private readonly toks: Tok[], private readonly lx: Lexer, private readonly src: string, private readonly baseDir: string) {}

  private get cur(): Tok { return this.toks[this.k]!; }
  private peek(n = 1): Tok { return this.toks[Math.min(this.k + n, this.toks.length - 1)]!; }
  private isOp(v: string, t: Tok = this.cur): boolean { return t.t === 'OP' && t.v === v; }
  private pos(t: Tok = this.cur): Pos { return this.lx.pos(t.p); }
  private fail(t: Tok = this.cur, expecting?: string): never {
    throw new NixParseError(`syntax error, unexpected ${describe(t)}${expecting ? `, expecting ${expecting}` : ''}`, this.pos(t));
  }
  private expect(v: string, expecting = `'${v}'`): Tok {
    if (!this.isOp(v)) this.fail(this.cur, expecting);
    return this.toks[this.k++]!;
  }

  parseTop(): Expr {
    const e = this.expr();
    if (this.cur.t !== 'EOF') this.fail(this.cur, 'end of file');
    return e;
  }

  expr(): Expr {
    const t = this.cur;
    if (t.t === 'ID' && this.isOp(':', this.peek())) {
      this.k += 2;
      return new ExprLambda(t.v, null, false, this.expr(), this.pos(t));
    }
    if (t.t === 'ID' && this.isOp('@', this.peek())) {
      if (!this.isOp('{', this.peek(2))) this.fail(this.peek(2), "'{'");
      this.k += 2;
      const { formals, ellipsis } = this.formals();
      this.expect(':');
      if (formals.some((f) => f.name === t.v)) throw new NixParseError(`duplicate formal function argument '${t.v}'`, this.pos(t));
      return new ExprLambda(t.v, formals, ellipsis, this.expr(), this.pos(t));
    }
    if (this.isOp('{') && this.looksLikeFormals()) {
      const { formals, ellipsis } = this.formals();
      let arg: string | null = null;
      if (this.isOp('@')) {
        this.k++;
        const a = this.cur;
        if (a.t !== 'ID') this.fail(a, 'identifier');
        arg = a.v; this.k++;
        if (formals.some((f) => f.name === arg)) throw new NixParseError(`duplicate formal function argument '${arg}'`, this.pos(a));
      }
      this.expect(':', arg === null ? "':' or '@'" : "':'");
      return new ExprLambda(arg, formals, ellipsis, this.expr(), this.pos(t));
    }
    if (this.isOp('assert')) {
      this.k++;
      const startTok = this.cur;
      const c = this.expr();
      const endTok = this.cur;
      this.expect(';');
      void startTok; void endTok;
      return new ExprAssert(c, this.expr(), showExpr(c), this.pos(t));
    }
    if (this.isOp('with')) {
      this.k++;
      const a = this.expr();
      this.expect(';');
      return new ExprWith(a, this.expr(), this.pos(t));
    }
    if (this.isOp('let') && !this.isOp('{', this.peek())) {
      this.k++;
      const attrs = new ExprAttrs(true, this.pos(t));
      this.binds(attrs, 'in', true);
      this.expect('in', 'IN');
      return new ExprLet(attrs, this.expr());
    }
    if (this.isOp('if')) {
      this.k++;
      const c = this.expr();
      this.expect('then', 'THEN');
      const a = this.expr();
      this.expect('else', 'ELSE');
      return new ExprIf(c, a, this.expr(), this.pos(t));
    }
    return this.exprOp(0);
  }

  private looksLikeFormals(): boolean {
    const a = this.peek(1), b = this.peek(2);
    if (this.isOp('}', a)) return this.isOp(':', b) || this.isOp('@', b);
    if (this.isOp('...', a)) return true;
    if (a.t === 'ID') return this.isOp(',', b) || this.isOp('?', b) || (this.isOp('}', b) && (this.isOp(':', this.peek(3)) || this.isOp('@', this.peek(3))));
    return false;
  }

  private formals(): { formals: Formal[]; ellipsis: boolean } {
    this.expect('{');
    const formals: Formal[] = [];
    let ellipsis = false;
    const seen = new Set<string>();
    while (!this.isOp('}')) {
      if (this.isOp('...')) { this.k++; ellipsis = true; if (!this.isOp('}')) this.fail(this.cur, "'}'"); break; }
      const id = this.cur;
      if (id.t !== 'ID') this.fail(id, "'}'");
      this.k++;
      let def: Expr | null = null;
      if (this.isOp('?')) { this.k++; def = this.expr(); }
      if (seen.has(id.v)) throw new NixParseError(`duplicate formal function argument '${id.v}'`, this.pos(id));
      seen.add(id.v);
      formals.push({ name: id.v, def, pos: this.pos(id) });
      if (this.isOp(',')) { this.k++; continue; }
      if (!this.isOp('}')) this.fail(this.cur, "'}'");
    }
    this.k++;
    // Nix sorts formals by name.
    formals.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    return { formals, ellipsis };
  }

  private exprOp(minPrec: number): Expr {
    let lhs: Expr;
    const t = this.cur;
    const startPos = this.pos(t);
    if (this.isOp('!')) {
      this.k++;
      lhs = new ExprNot(this.exprOp(PREC_NOT + 1), this.pos(t));
    } else if (this.isOp('-')) {
      this.k++;
      lhs = primCall('-', [new ExprConst(0), this.exprOp(PREC_NEGATE + 1)], this.pos(t));
    } else {
      lhs = this.exprApp();
    }
    for (;;) {
      const op = this.cur;
      if (op.t !== 'OP') break;
      const info = BINOPS[op.v];
      if (!info || info.prec < minPrec) break;
      // `!` binds looser than + - * / ++ ?: `!a + b` is `!(a + b)`; the loop above handles it through minPrec.
      this.k++;
      const p = startPos;
      if (op.v === '?') {
        lhs = new ExprHasAttr(lhs, this.attrPath());
      } else {
        const rhs = this.exprOp(info.assoc === 'r' ? info.prec : info.prec + 1);
        lhs = this.binop(op.v, lhs, rhs, p);
      }
      if (info.assoc === 'n' && op.v !== '?') {
        const nx = this.cur;
        if (nx.t === 'OP' && BINOPS[nx.v]?.prec === info.prec) this.fail(nx);
      }
    }
    return lhs;
  }

  private binop(op: string, a: Expr, b: Expr, p: Pos): Expr {
    switch (op) {
      case '->': case '||': case '&&': return new ExprBinBool(op, a, b, p);
      case '==': return new ExprEq(false, a, b, p);
      case '!=': return new ExprEq(true, a, b, p);
      case '<': return primCall('<', [a, b], p);
      case '>': return primCall('<', [b, a], p);
      case '<=': return new ExprNot(primCall('<', [b, a], p), p);
      case '>=': return new ExprNot(primCall('<', [a, b], p), p);
      case '//': return new ExprUpdate(a, b, p);
      case '+': return new ExprConcatStrings(false, [a, b], p);
      case '-': case '*': case '/': return primCall(op, [a, b], p);
      case '++': return new ExprConcatLists(a, b, p);
    }
    throw new Error(`unknown operator ${op}`);
  }

  private exprApp(): Expr {
    const t = this.cur;
    const f = this.exprSelect();
    const args: Expr[] = [];
    while (this.startsSimple()) args.push(this.exprSelect());
    return args.length === 0 ? f : new ExprCall(f, args, this.pos(t));
  }

  private startsSimple(): boolean {
    const t = this.cur;
    switch (t.t) {
      case 'ID': case 'INT': case 'FLOAT': case 'PATH': case 'HPATH': case 'SPATH': case 'URI': case 'IPATH': case 'STR': return true;
      case 'OP': return t.v === '(' || t.v === '{' || t.v === '[' || t.v === 'rec' || (t.v === 'let' && this.isOp('{', this.peek()));
      default: return false;
    }
  }

  private exprSelect(): Expr {
    const t = this.cur;
    const e = this.exprSimple();
    if (this.isOp('.')) {
      this.k++;
      const path = this.attrPath();
      let def: Expr | null = null;
      if (this.isOp('or')) { this.k++; def = this.exprSelect(); }
      return new ExprSelect(e, path, def, this.pos(t));
    }
    if (this.isOp('or')) {
      // Legacy: `e or` applies e to a variable named `or`.
      const o = this.cur;
      this.k++;
      return new ExprCall(e, [new ExprVar('or', this.pos(o))], this.pos(t));
    }
    return e;
  }

  private attrPath(): AttrName[] {
    const path: AttrName[] = [this.attrName()];
    while (this.isOp('.')) { this.k++; path.push(this.attrName()); }
    return path;
  }

  private attrName(): AttrName {
    const t = this.cur;
    if (t.t === 'ID') { this.k++; return t.v; }
    if (this.isOp('or')) { this.k++; return 'or'; }
    if (t.t === 'STR' && !t.ind) {
      this.k++;
      const e = this.stringExpr(t);
      return e instanceof ExprConst ? (e.v as string) : e;
    }
    if (this.isOp('${')) {
      this.k++;
      const e = this.expr();
      this.expect('}');
      return e instanceof ExprConst && typeof e.v === 'string' ? e.v : e;
    }
    this.fail(t, `ID or OR_KW or DOLLAR_CURLY or '"'`);
  }

  private exprSimple(): Expr {
    const t = this.cur;
    const p = this.pos(t);
    switch (t.t) {
      case 'ID':
        this.k++;
        if (t.v === '__curPos') return new ExprPos(p);
        return new ExprVar(t.v, p);
      case 'INT': this.k++; return withPos(new ExprConst(mkInt(t.v)), p);
      case 'FLOAT': this.k++; return withPos(new ExprConst(new NixFloat(t.v)), p);
      case 'URI': this.k++; return withPos(new ExprConst(t.v), p);
      case 'STR': this.k++; return t.ind ? this.indStringExpr(t) : this.stringExpr(t);
      case 'PATH': this.k++; return withPos(new ExprConst(new NixPath(this.absPath(t.v))), p);
      case 'HPATH': this.k++; return withPos(new ExprConst(new NixPath(canonPath(homedir() + t.v.slice(1)))), p);
      case 'SPATH': this.k++; return new ExprSearchPath(t.v, p);
      case 'IPATH': {
        this.k++;
        const parts: Expr[] = [];
        t.parts.forEach((part, i) => {
          if (typeof part === 'string') {
            if (i === 0) {
              let abs = part.startsWith('~') ? homedir() + part.slice(1) : this.absPath(part);
              if (part.endsWith('/') && part.length > 1 && !abs.endsWith('/')) abs += '/';
              parts.push(withPos(new ExprConst(new NixPath(abs)), p));
            } else parts.push(new ExprConst(part));
          } else parts.push(this.sub(part));
        });
        return new ExprConcatStrings(false, parts, p);
      }
      case 'OP':
        switch (t.v) {
          case '(': {
            this.k++;
            const e = this.expr();
            this.expect(')');
            return e;
          }
          case '[': {
            this.k++;
            const elems: Expr[] = [];
            while (!this.isOp(']')) {
              if (!this.startsSimple()) this.fail();
              elems.push(this.exprSelect());
            }
            this.k++;
            return withPos(new ExprList(elems), p);
          }
          case '{': {
            this.k++;
            const attrs = new ExprAttrs(false, p);
            this.binds(attrs, '}', false);
            this.expect('}');
            return attrs;
          }
          case 'rec': {
            this.k++;
            this.expect('{');
            const attrs = new ExprAttrs(true, p);
            this.binds(attrs, '}', false);
            this.expect('}');
            return attrs;
          }
          case 'let': {
            this.k++;
            this.expect('{');
            const attrs = new ExprAttrs(true, p);
            this.binds(attrs, '}', false);
            this.expect('}');
            return new ExprSelect(attrs, ['body'], null, p);
          }
        }
    }
    this.fail(t);
  }

  private absPath(p: string): string {
    return canonPath(p.startsWith('/') ? p : `${this.baseDir}/${p}`);
  }

  /** Parses a nested token list (an interpolation). */
  private sub(toks: Tok[]): Expr {
    const p = new Parser(toks, this.lx, this.src, this.baseDir);
    const e = p.parseTop();
    const start = (toks as Tok[] & { start?: number }).start;
    return start === undefined ? e : new ExprPart(e, this.lx.pos(start));
  }

  private stringExpr(t: Extract<Tok, { t: 'STR' }>): Expr {
    const p = this.pos(t);
    if (t.parts.length === 0) return withPos(new ExprConst(''), p);
    if (t.parts.length === 1 && typeof t.parts[0] === 'string') return withPos(new ExprConst(t.parts[0]), p);
    return new ExprConcatStrings(true, t.parts.map((x) => (typeof x === 'string' ? new ExprConst(x) : this.sub(x as Tok[]))), p);
  }

  private indStringExpr(t: Extract<Tok, { t: 'STR' }>): Expr {
    const p = this.pos(t);
    const parts = t.parts;
    // Nix's stripIndentation: minimum indentation over lines with content; interpolations and
    // escapes count as content.
    let atStart = true, minIndent = 1000000, cur = 0;
    for (const part of parts) {
      if (typeof part !== 'string') {
        if (atStart) { atStart = false; if (cur < minIndent) minIndent = cur; }
        continue;
      }
      for (let j = 0; j < part.length; j++) {
        const c = part[j];
        if (atStart) {
          if (c === ' ') cur++;
          else if (c === '\n') cur = 0;
          else { atStart = false; if (cur < minIndent) minIndent = cur; }
        } else if (c === '\n') { atStart = true; cur = 0; }
      }
    }
    const out: Expr[] = [];
    atStart = true;
    let dropped = 0;
    parts.forEach((part, idx) => {
      if (Array.isArray(part)) {
        atStart = false; dropped = 0;
        out.push(this.sub(part));
        return;
      }
      const text = typeof part === 'string' ? part : part.esc;
      let s2 = '';
      for (let j = 0; j < text.length; j++) {
        const c = text[j]!;
        if (atStart) {
          if (c === ' ') { if (dropped++ >= minIndent) s2 += c; }
          else if (c === '\n') { dropped = 0; s2 += c; }
          else { atStart = false; dropped = 0; s2 += c; }
        } else {
          s2 += c;
          if (c === '\n') atStart = true;
        }
      }
      if (idx === parts.length - 1) {
        const nl = s2.lastIndexOf('\n');
        if (nl >= 0 && /^ *$/.test(s2.slice(nl + 1))) s2 = s2.slice(0, nl + 1);
      }
      out.push(new ExprConst(s2));
    });
    if (out.length === 0) return withPos(new ExprConst(''), p);
    if (out.length === 1 && out[0] instanceof ExprConst) return withPos(out[0], p);
    return new ExprConcatStrings(true, out, p);
  }

  /** Bindings of a set or let, up to (not including) `end`. */
  /**
   * Bison's location of an empty rule: the end of the token before it (`binds` and the name list
   * of `inherit` start with one, so Nix positions inherited attributes there).
   */
  private endOfPrev(): Pos {
    const t = this.toks[this.k - 1]!;
    return t.t === 'OP' ? this.lx.pos(t.p + t.v.length) : this.pos(t);
  }

  private binds(attrs: ExprAttrs, end: string, isLet: boolean): void {
    // The position of the `binds` rule, given to the variables and selections of `inherit`.
    const bindsPos = this.endOfPrev();
    while (!this.isOp(end)) {
      const t = this.cur;
      if (t.t === 'EOF') this.fail(t);
      if (this.isOp('inherit')) {
        this.k++;
        let from: Expr | null = null;
        if (this.isOp('(')) {
          this.k++;
          from = this.expr();
          this.expect(')');
        }
        // Nix positions the inherited attributes (and a duplicate among them) at the name list.
        const np = this.endOfPrev();
        while (!this.isOp(';')) {
          const nt = this.cur;
          const name = this.attrName();
          if (typeof name !== 'string') throw new NixParseError('dynamic attributes not allowed in inherit', this.pos(nt));
          const prev = attrs.attrs.get(name);
          if (prev) throw new NixParseError(`attribute '${name}' already defined at ${showPosParen(prev.pos)}`, np);
          if (from) attrs.attrs.set(name, { e: new ExprSelect(from, [name], null, bindsPos), inherited: false, pos: np });
          else attrs.attrs.set(name, { e: new ExprVar(name, bindsPos), inherited: true, pos: np });
        }
        this.k++;
        continue;
      }
      if (!(t.t === 'ID' || this.isOp('or') || this.isOp('${') || (t.t === 'STR' && !t.ind))) this.fail(t);
      const path = this.attrPath();
      this.expect('=', "'.' or '='");
      const e = this.expr();
      this.expect(';');
      if (isLet && path.some((n) => typeof n !== 'string')) throw new NixParseError('dynamic attributes not allowed in let', this.pos(t));
      this.addAttr(attrs, path, e, this.pos(t));
    }
  }

  private addAttr(attrs: ExprAttrs, path: AttrName[], e: Expr, pos: Pos): void {
    let a = attrs;
    const dup = (prevPos: Pos, upto: number): never => {
      throw new NixParseError(`attribute '${showPath(path.slice(0, upto))}' already defined at ${showPosParen(prevPos)}`, pos);
    };
    for (let i = 0; i < path.length - 1; i++) {
      const n = path[i]!;
      if (typeof n === 'string') {
        const prev = a.attrs.get(n);
        if (prev) {
          if (!prev.inherited && prev.e instanceof ExprAttrs) { a = prev.e; continue; }
          dup(prev.pos, path.length);
        }
        const nested = new ExprAttrs(false, pos);
        a.attrs.set(n, { e: nested, inherited: false, pos });
        a = nested;
      } else {
        const nested = new ExprAttrs(false, pos);
        a.dynamic.push({ name: n, e: nested, pos });
        a = nested;
      }
    }
    const last = path[path.length - 1]!;
    if (typeof last === 'string') {
      const prev = a.attrs.get(last);
      if (prev) {
        if (!prev.inherited && prev.e instanceof ExprAttrs && e instanceof ExprAttrs) {
          for (const [k, d] of e.attrs) {
            const p2 = prev.e.attrs.get(k);
            if (p2) throw new NixParseError(`attribute '${showPath([...path, k])}' already defined at ${showPosParen(p2.pos)}`, d.pos);
            prev.e.attrs.set(k, d);
          }
          prev.e.dynamic.push(...e.dynamic);
          return;
        }
        dup(prev.pos, path.length);
      }
      setLambdaName(e, last);
      a.attrs.set(last, { e, inherited: false, pos });
    } else {
      a.dynamic.push({ name: last, e, pos });
    }
  }
}

function showPath(path: AttrName[]): string {
  return path.map((n) => (typeof n === 'string' ? n : '"${..}"')).join('.');
}

function withPos<T extends Expr>(e: T, p: Pos): T {
  e.pos = p;
  return e;
}

/** Nix's rendering of an expression (used in "assertion '…' failed"). */
export function showExpr(e: Expr): string {
  return (e as { show?: () => string }).show?.() ?? showExprDefault(e);
}

import { showExprDefault } from './show-expr.js';

/** Parses `src` (from `origin`, relative paths against `baseDir`) and binds its variables in `scope`. */
export function parse(src: string, origin: string, baseDir: string, scope: Scope): Expr {
  registerSource(origin, src);
  const lx = new Lexer(src, origin);
  const toks = lx.tokenize();
  const e = new Parser(toks, lx, src, baseDir).parseTop();
  e.bind(scope);
  return e;
}
