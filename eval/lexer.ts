// Nix 2.8 lexer (after src/libexpr/lexer.l): longest match among the token rules, string and
// indented-string modes producing literal/interpolation parts, paths with `${}` interpolation.
import { NixParseError, type Pos } from './errors.js';

export type Tok =
  | { t: 'ID'; v: string; p: number }
  | { t: 'INT'; v: bigint; p: number }
  | { t: 'FLOAT'; v: number; p: number }
  | { t: 'PATH' | 'HPATH' | 'SPATH' | 'URI'; v: string; p: number }
  /** A path with interpolations: parts are literal strings or token ranges of nested expressions. */
  | { t: 'IPATH'; parts: (string | Tok[])[]; p: number }
  /** "…" or ''…'': parts; for indented strings `ind` is true and literal parts are kept apart for stripping. */
  | { t: 'STR'; parts: (string | Tok[] | { esc: string })[]; ind: boolean; p: number }
  | { t: 'OP'; v: string; p: number }
  | { t: 'EOF'; p: number };

const KEYWORDS = new Set(['if', 'then', 'else', 'assert', 'with', 'let', 'in', 'rec', 'inherit', 'or']);
const RE_ID = /[a-zA-Z_][a-zA-Z0-9_'-]*/y;
const RE_INT = /[0-9]+/y;
const RE_FLOAT = /(([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+-]?[0-9]+)?/y;
const RE_PATH = /[a-zA-Z0-9._+-]*(\/[a-zA-Z0-9._+-]+)+\/?/y;
const RE_PATH_SEG = /[a-zA-Z0-9._+-]*\/(?=\$\{)/y;
// Plain PATH_SEG and PATH_CHAR+: with PATH, what Nix's lexer matches inside a path (INPATH states).
const RE_PATH_SEG_ANY = /[a-zA-Z0-9._+-]*\//y;
const RE_PATH_CHARS = /[a-zA-Z0-9._+-]+/y;
const RE_HPATH = /~(\/[a-zA-Z0-9._+-]+)+\/?/y;
const RE_HPATH_START = /~\/(?=\$\{)/y;
const RE_SPATH = /<[a-zA-Z0-9._+-]+(\/[a-zA-Z0-9._+-]+)*>/y;
const RE_URI = /[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+/y;
const OPS3 = ['...'];
const OPS2 = ['==', '!=', '<=', '>=', '&&', '||', '->', '//', '++', '${'];
const OPS1 = '{}[]()=;:,.?@!+-*/<>';

function matchAt(re: RegExp, s: string, i: number): number {
  re.lastIndex = i;
  const m = re.exec(s);
  return m ? m[0].length : 0;
}

export class Lexer {
  private i = 0;
  private lineStarts: number[] = [0];
  constructor(private readonly src: string, readonly origin: string) {
    for (let k = 0; k < src.length; k++) if (src.charCodeAt(k) === 10) this.lineStarts.push(k + 1);
  }

  pos(offset: number): Pos {
    let lo = 0, hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return { origin: this.origin, line: lo + 1, col: offset - this.lineStarts[lo]! + 1 };
  }

  error(msg: string, offset: number): never {
    throw new NixParseError(msg, this.pos(offset));
  }

  /** All tokens up to EOF (or, when `nested`, up to the `}` closing an interpolation, which is consumed). */
  tokenize(nested = false): Tok[] {
    const out: Tok[] = [];
    let depth = 0;
    for (;;) {
      const tok = this.next();
      if (tok.t === 'EOF') {
        tok.p = Math.max(this.lastLexeme, out.length ? out[out.length - 1]!.p : 0);
        if (nested) this.error('syntax error, unexpected end of file', tok.p);
        out.push(tok);
        return out;
      }
      if (tok.t === 'OP') {
        if (tok.v === '{' || tok.v === '${') depth++;
        else if (tok.v === '}') {
          if (nested && depth === 0) { out.push({ t: 'EOF', p: tok.p }); return out; }
          depth--;
        }
      }
      out.push(tok);
    }
  }

  /** The tokens of a `${…}` whose `${` is at `start`; the list remembers that offset (Nix reports errors of the part there). */
  private interp(start: number): Tok[] {
    const toks = this.tokenize(true);
    (toks as Tok[] & { start?: number }).start = start;
    return toks;
  }

  /** Start of the last lexeme, whitespace runs and comments included (where bison reports an unexpected end of file). */
  private lastLexeme = 0;

  private skipSpace(): void {
    const s = this.src;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13) {
        this.lastLexeme = this.i;
        while (this.i < s.length && ' \t\n\r'.includes(s[this.i]!)) this.i++;
        continue;
      }
      if (c === 35) { // #
        this.lastLexeme = this.i;
        while (this.i < s.length && s.charCodeAt(this.i) !== 10 && s.charCodeAt(this.i) !== 13) this.i++;
        continue;
      }
      if (c === 47 && s.charCodeAt(this.i + 1) === 42) { // /*
        const end = s.indexOf('*/', this.i + 2);
        if (end < 0) return; // not a comment: `/` is lexed as an operator, as flex does
        this.lastLexeme = this.i;
        this.i = end + 2;
        continue;
      }
      return;
    }
  }

  private next(): Tok {
    this.skipSpace();
    const s = this.src, p = this.i;
    if (p >= s.length) return { t: 'EOF', p: Math.max(0, s.length - 1) };
    const c = s[p]!;
    if (c === '"') { this.i++; return this.string(p); }
    if (c === "'" && s[p + 1] === "'") {
      this.i += 2;
      const m = /( *\n)?/y; m.lastIndex = this.i; const r = m.exec(s);
      if (r) this.i += r[0].length;
      return this.indString(p);
    }
    // Longest match among the word-like rules, earlier rule on ties (as flex).
    let best = 0, kind = '';
    const tryRule = (re: RegExp, k: string) => { const n = matchAt(re, s, p); if (n > best) { best = n; kind = k; } };
    tryRule(RE_ID, 'ID');
    tryRule(RE_INT, 'INT');
    tryRule(RE_FLOAT, 'FLOAT');
    tryRule(RE_PATH_SEG, 'PATH_SEG');
    tryRule(RE_HPATH_START, 'HPATH_START');
    tryRule(RE_PATH, 'PATH');
    tryRule(RE_HPATH, 'HPATH');
    tryRule(RE_SPATH, 'SPATH');
    tryRule(RE_URI, 'URI');
    if (best > 0) {
      // `${` after a path prefix starts an interpolated path even if a plain PATH would match longer.
      if ((kind === 'PATH' || kind === 'HPATH') && this.pathContinuesWithInterp(p, best)) kind = 'IPATH';
      if (kind === 'PATH_SEG' || kind === 'HPATH_START') kind = 'IPATH';
      if (kind === 'IPATH') return this.interpPath(p);
      const text = s.slice(p, p + best);
      this.i = p + best;
      switch (kind) {
        case 'ID': return KEYWORDS.has(text) || text === '...' ? { t: 'OP', v: text, p } : { t: 'ID', v: text, p };
        case 'INT': {
          const v = BigInt(text);
          if (v > 9223372036854775807n) this.error(`invalid integer '${text}'`, p);
          return { t: 'INT', v, p };
        }
        case 'FLOAT': return { t: 'FLOAT', v: parseFloat(text), p };
        case 'PATH': case 'HPATH':
          if (text.endsWith('/')) return this.pathTail(p, p + best);
          return { t: kind, v: text, p };
        case 'SPATH': return { t: 'SPATH', v: text.slice(1, -1), p };
        case 'URI': return { t: 'URI', v: text, p };
      }
    }
    for (const op of OPS3) if (s.startsWith(op, p)) { this.i += op.length; return { t: 'OP', v: op, p }; }
    for (const op of OPS2) if (s.startsWith(op, p)) { this.i += op.length; return { t: 'OP', v: op, p }; }
    if (OPS1.includes(c)) { this.i++; return { t: 'OP', v: c, p }; }
    this.error(`syntax error, unexpected '${c}'`, p);
  }

  private pathContinuesWithInterp(p: number, n: number): boolean {
    // e.g. ./a/b${x}: the plain match stops before `${`, and the segment before it ends with a path char.
    return this.src.startsWith('${', p + n);
  }

  /**
   * After a path token ending in '/' (`/a/` of `/a//b`), Nix's lexer goes on in its INPATH_SLASH
   * state: path chunks become STR tokens, which the grammar only accepts before a `${` (an
   * interpolated path). Anything else is an error: "path has a trailing slash" when no chunk
   * follows the slash, else a syntax error on the token after the first chunk, positioned as
   * flex/bison do (at end of input, the location before the last token's).
   */
  private pathTail(p: number, i: number): Tok {
    const s = this.src;
    let strs = 0, slash = true, lastStart = p;
    for (;;) {
      if (s.startsWith('${', i)) { this.i = p; return this.interpPath(p); }
      const n = Math.max(matchAt(RE_PATH, s, i), matchAt(RE_PATH_SEG_ANY, s, i), matchAt(RE_PATH_CHARS, s, i));
      if (n === 0) {
        const atEof = i >= s.length;
        if (slash) this.error('path has a trailing slash', atEof ? lastStart : i);
        this.error('syntax error, unexpected PATH_END, expecting DOLLAR_CURLY', atEof ? p : lastStart);
      }
      if (strs === 1) this.error('syntax error, unexpected STR, expecting DOLLAR_CURLY', i);
      strs++; lastStart = i; slash = s[i + n - 1] === '/'; i += n;
    }
  }

  /** A path containing `${…}`: literal chunks and nested token lists. */
  private interpPath(p: number): Tok {
    const s = this.src;
    const parts: (string | Tok[])[] = [];
    let lit = '', litStart = p;
    for (;;) {
      if (s.startsWith('${', this.i)) {
        if (lit) { parts.push(lit); lit = ''; }
        this.i += 2;
        parts.push(this.interp(this.i - 2));
        continue;
      }
      const ch = s[this.i];
      if (ch !== undefined && /[a-zA-Z0-9._+\-/~]/.test(ch)) { if (!lit) litStart = this.i; lit += ch; this.i++; continue; }
      break;
    }
    if (lit) parts.push(lit);
    const last = parts[parts.length - 1];
    if (typeof last === 'string' && last.endsWith('/')) {
      // Nix reports the character after the slash, or at end of input the last path chunk's start.
      if (this.i < s.length) this.error(`path has a trailing slash`, this.i);
      let j = litStart, lastChunk = litStart;
      while (j < this.i) {
        const n = Math.max(matchAt(RE_PATH, s, j), matchAt(RE_PATH_SEG_ANY, s, j), matchAt(RE_PATH_CHARS, s, j), 1);
        lastChunk = j; j += n;
      }
      this.error(`path has a trailing slash`, parts.length === 1 ? p : lastChunk);
    }
    return { t: 'IPATH', parts, p };
  }

  private string(p: number): Tok {
    const s = this.src;
    const parts: (string | Tok[])[] = [];
    let lit = '';
    for (;;) {
      if (this.i >= s.length) this.error('syntax error, unexpected end of file, expecting \'"\'', lit || parts.length ? p + 1 : p);
      const ch = s[this.i]!;
      if (ch === '"') { this.i++; break; }
      if (ch === '\\') {
        const e = s[this.i + 1];
        if (e === undefined) this.error('syntax error, unexpected end of file', s.length);
        lit += e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e;
        this.i += 2;
        continue;
      }
      if (ch === '$') {
        const n = s[this.i + 1];
        if (n === '{') {
          if (lit) { parts.push(lit); lit = ''; }
          this.i += 2;
          parts.push(this.interp(this.i - 2));
          continue;
        }
        if (n === '$') { lit += '$$'; this.i += 2; continue; }
        lit += '$'; this.i++;
        continue;
      }
      if (ch === '\r') { lit += '\n'; this.i += s[this.i + 1] === '\n' ? 2 : 1; continue; }
      lit += ch; this.i++;
    }
    if (lit) parts.push(lit);
    return { t: 'STR', parts, ind: false, p };
  }

  private indString(p: number): Tok {
    const s = this.src;
    // Escapes and lone `$`/`'` tokens are kept apart ({ esc }): they end start-of-line whitespace like interpolations.
    const parts: (string | Tok[] | { esc: string })[] = [];
    let lit = '';
    const flush = () => { if (lit) { parts.push(lit); lit = ''; } };
    const esc = (e: string) => { flush(); parts.push({ esc: e }); };
    for (;;) {
      if (this.i >= s.length) this.error('syntax error, unexpected end of file, expecting IND_STR or DOLLAR_CURLY or IND_STRING_CLOSE', lit || parts.length ? p + 2 : p);
      const ch = s[this.i]!, n = s[this.i + 1];
      if (ch === "'" && n === "'") {
        const n2 = s[this.i + 2];
        if (n2 === '$') { esc('$'); this.i += 3; continue; }
        if (n2 === "'") { esc("''"); this.i += 3; continue; }
        if (n2 === '\\') {
          const e = s[this.i + 3];
          if (e === undefined) this.error('syntax error, unexpected end of file', s.length - 1);
          if (e === '\r' && s[this.i + 4] === '\n') { esc('\n'); this.i += 5; continue; }
          esc(e === 'n' ? '\n' : e === 'r' ? '\r' : e === 't' ? '\t' : e === '\r' ? '\n' : e);
          this.i += 4; continue;
        }
        this.i += 2;
        break;
      }
      if (ch === '$') {
        if (n === '{') { flush(); this.i += 2; parts.push(this.interp(this.i - 2)); continue; }
        if (n === "'" || n === undefined) { esc('$'); this.i++; continue; }
        lit += ch + n; this.i += 2; continue;
      }
      if (ch === "'") {
        if (n === '$') { esc("'"); this.i++; continue; }
        lit += ch + (n ?? ''); this.i += 2; continue;
      }
      lit += ch; this.i++;
    }
    flush();
    return { t: 'STR', parts, ind: true, p };
  }

}
