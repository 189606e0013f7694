// builtins.fromTOML as Nix 2.8 evaluates it (toml11 3.x underneath, TOML v1.0.0).
//
// Integers come out as bigint (Nix ints are 64-bit), floats as number. toml11's leniencies
// are kept: mixed-type arrays, a table header for a table first made by dotted keys,
// integers beyond 64 bits clamped to the int64 range, float literals beyond the double
// range clamped to ±DBL_MAX. Dates and times parse but make the whole call fail, as in Nix.
// Error messages carry toml11's first line (`[error] toml::…: …`) where it is known.

import { TsixError } from '../../store/errors.js';

export type TomlValue = bigint | number | string | boolean | TomlValue[] | TomlTable;
export interface TomlTable { [key: string]: TomlValue }

/** A TOML document Nix would refuse; the message is Nix's `while parsing a TOML string: …`. */
export class TomlError extends TsixError {
  constructor(detail: string, line: number) {
    super('E_EVAL', `while parsing a TOML string: ${detail}`, { detail, line });
  }
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

const BARE_KEY = /[A-Za-z0-9_-]/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?)?|\d{2}:\d{2}:\d{2}(\.\d+)?)/;

// Kinds of tables, to refuse redefinitions the way toml11 does.
const explicitTables = new WeakSet<object>();
const inlineTables = new WeakSet<object>();
const tableArrays = new WeakSet<object>();

function newTable(): TomlTable {
  return Object.create(null) as TomlTable;
}

function isTable(v: TomlValue | undefined): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Parser {
  private i = 0;
  private line = 1;
  sawDateTime = false;

  constructor(private readonly s: string) {}

  fail(detail: string): never {
    throw new TomlError(`[error] ${detail}`, this.line);
  }

  private peek(k = 0): string {
    return this.s[this.i + k] ?? '';
  }

  private startsWith(t: string): boolean {
    return this.s.startsWith(t, this.i);
  }

  private skipWs(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }

  private skipComment(): void {
    if (this.peek() !== '#') return;
    while (this.i < this.s.length && this.peek() !== '\n') {
      const c = this.s.charCodeAt(this.i);
      if ((c < 0x20 && c !== 9 && !(c === 13 && this.peek(1) === '\n')) || c === 0x7f) this.fail('toml::parse_comment: control character in a comment');
      this.i++;
    }
  }

  /** Whitespace, comments and newlines (inside arrays and between lines). */
  private skipBlank(): void {
    for (;;) {
      this.skipWs();
      this.skipComment();
      if (this.peek() === '\n') { this.i++; this.line++; continue; }
      if (this.peek() === '\r' && this.peek(1) === '\n') { this.i += 2; this.line++; continue; }
      return;
    }
  }

  /** After a header or key/value: optional comment, then a newline or the end. */
  private endOfLine(): void {
    this.skipWs();
    this.skipComment();
    if (this.i >= this.s.length) return;
    if (this.peek() === '\n') { this.i++; this.line++; return; }
    if (this.peek() === '\r' && this.peek(1) === '\n') { this.i += 2; this.line++; return; }
    this.fail('toml::parse_table: invalid line format');
  }

  parseDocument(): TomlTable {
    const root = newTable();
    let current = root;
    for (;;) {
      this.skipBlank();
      if (this.i >= this.s.length) return root;
      if (this.startsWith('[[')) {
        this.i += 2;
        const keys = this.parseKey();
        if (!this.startsWith(']]')) this.fail('toml::parse_array_table: missing `]]`');
        this.i += 2;
        current = this.openTableArray(root, keys);
      } else if (this.peek() === '[') {
        this.i++;
        const keys = this.parseKey();
        if (this.peek() !== ']') this.fail('toml::parse_table_key: missing `]`');
        this.i++;
        current = this.openTable(root, keys);
      } else {
        this.parseKeyValue(current);
      }
      this.endOfLine();
    }
  }

  /** Follows all but the last key from `t`, creating implicit tables; an array of tables means its last element. */
  private descend(t: TomlTable, keys: string[], header: boolean): TomlTable {
    let cur = t;
    for (const k of keys) {
      let next = cur[k];
      if (next === undefined) {
        next = newTable();
        cur[k] = next;
      } else if (Array.isArray(next) && tableArrays.has(next)) {
        next = next[next.length - 1];
      } else if (!isTable(next) || (inlineTables.has(next))) {
        this.fail(`toml::insert_value: ${header ? 'table' : 'value'} ("${k}") already exists.`);
      }
      cur = next as TomlTable;
    }
    return cur;
  }

  private openTable(root: TomlTable, keys: string[]): TomlTable {
    const parent = this.descend(root, keys.slice(0, -1), true);
    const last = keys[keys.length - 1];
    const existing = parent[last];
    if (existing === undefined) {
      const t = newTable();
      explicitTables.add(t);
      parent[last] = t;
      return t;
    }
    if (!isTable(existing) || explicitTables.has(existing) || inlineTables.has(existing)) {
      this.fail(`toml::insert_value: table ("${last}") already exists.`);
    }
    explicitTables.add(existing);
    return existing;
  }

  private openTableArray(root: TomlTable, keys: string[]): TomlTable {
    const parent = this.descend(root, keys.slice(0, -1), true);
    const last = keys[keys.length - 1];
    const existing = parent[last];
    const t = newTable();
    if (existing === undefined) {
      const arr: TomlValue[] = [t];
      tableArrays.add(arr);
      parent[last] = arr;
    } else if (Array.isArray(existing) && tableArrays.has(existing)) {
      existing.push(t);
    } else {
      this.fail(`toml::insert_value: array of tables ("${last}") already exists.`);
    }
    return t;
  }

  private parseKeyValue(table: TomlTable): void {
    const start = this.peek();
    if (start === '=') this.fail('toml::parse_key_value_pair: empty key is not allowed.');
    if (!(BARE_KEY.test(start) || start === '"' || start === "'")) this.fail('toml::parse_key: an invalid key appeared.');
    const keys = this.parseKey();
    this.skipWs();
    if (this.peek() !== '=') this.fail('toml::parse_key_value_pair: missing key-value separator `=`');
    this.i++;
    this.skipWs();
    if (this.i >= this.s.length || this.peek() === '\n' || this.peek() === '#' || (this.peek() === '\r' && this.peek(1) === '\n')) {
      this.fail("toml::parse_key_value_pair: missing value after key-value separator '='");
    }
    const value = this.parseValue();
    const parent = this.descend(table, keys.slice(0, -1), false);
    const last = keys[keys.length - 1];
    if (last in parent) this.fail(`toml::insert_value: value ("${last}") already exists.`);
    parent[last] = value;
  }

  /** A possibly dotted key; stops before `=`, `]` or anything else that is not part of it. */
  private parseKey(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipWs();
      const c = this.peek();
      if (c === '"') {
        if (this.startsWith('"""')) this.fail('toml::parse_key: an invalid key appeared.');
        keys.push(this.parseBasicString());
      } else if (c === "'") {
        if (this.startsWith("'''")) this.fail('toml::parse_key: an invalid key appeared.');
        keys.push(this.parseLiteralString());
      } else if (BARE_KEY.test(c)) {
        const st = this.i;
        while (BARE_KEY.test(this.peek())) this.i++;
        keys.push(this.s.slice(st, this.i));
      } else {
        this.fail('toml::parse_key: an invalid key appeared.');
      }
      this.skipWs();
      if (this.peek() !== '.') return keys;
      this.i++;
    }
  }

  private parseValue(): TomlValue {
    const c = this.peek();
    if (c === '"') return this.startsWith('"""') ? this.parseMultilineBasic() : this.parseBasicString();
    if (c === "'") return this.startsWith("'''") ? this.parseMultilineLiteral() : this.parseLiteralString();
    if (c === '[') return this.parseArray();
    if (c === '{') return this.parseInlineTable();
    if (this.startsWith('true') && !/[A-Za-z0-9_]/.test(this.peek(4))) { this.i += 4; return true; }
    if (this.startsWith('false') && !/[A-Za-z0-9_]/.test(this.peek(5))) { this.i += 5; return false; }
    const dt = DATE_TIME.exec(this.s.slice(this.i, this.i + 40));
    if (dt) {
      this.i += dt[0].length;
      this.sawDateTime = true;
      return '';
    }
    return this.parseNumber();
  }

  private parseNumber(): bigint | number {
    const m = /^[0-9A-Za-z_+.-]+/.exec(this.s.slice(this.i));
    if (!m) this.fail('toml::parse_value: unknown token appeared');
    const tok = m![0];
    this.i += tok.length;
    const special = /^([+-]?)(inf|nan)$/.exec(tok);
    if (special) {
      if (special[2] === 'inf') return special[1] === '-' ? -Infinity : Infinity;
      return special[1] === '-' ? -NaN : NaN;
    }
    // toml11 reads `+0` of `+0x1` as a number and then trips over the rest of the line.
    if (/^[+-]0[xob]/.test(tok)) this.fail('toml::parse_table: invalid line format');
    const prefixed = /^0([xob])(.*)$/.exec(tok);
    if (prefixed) {
      const digits = { x: /^[0-9A-Fa-f](_?[0-9A-Fa-f])*$/, o: /^[0-7](_?[0-7])*$/, b: /^[01](_?[01])*$/ }[prefixed[1] as 'x' | 'o' | 'b'];
      if (!digits.test(prefixed[2])) this.fail({ x: 'toml::parse_hexadecimal_integer', o: 'toml::parse_octal_integer', b: 'toml::parse_binary_integer' }[prefixed[1] as 'x' | 'o' | 'b']);
      const v = BigInt(`0${prefixed[1]}${prefixed[2].replace(/_/g, '')}`);
      return v > INT64_MAX ? INT64_MAX : v;
    }
    if (/^[+-]?[0-9_]+$/.test(tok)) {
      if (!/^[+-]?[0-9](_?[0-9])*$/.test(tok)) this.fail('bad integer: `_` should be surrounded by digits');
      if (/^[+-]?0[0-9]/.test(tok)) this.fail('bad integer: leading zero');
      const v = BigInt(tok.replace(/_/g, ''));
      return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : v;
    }
    const dig = '[0-9](_?[0-9])*';
    if (!new RegExp(`^[+-]?${dig}((\\.${dig})([eE][+-]?${dig})?|[eE][+-]?${dig})$`).test(tok)) this.fail('bad float: invalid format');
    if (/^[+-]?0[0-9]/.test(tok)) this.fail('bad float: leading zero');
    const v = Number(tok.replace(/_/g, ''));
    if (v === Infinity) return Number.MAX_VALUE;
    if (v === -Infinity) return -Number.MAX_VALUE;
    return v;
  }

  private parseArray(): TomlValue[] {
    this.i++;
    const out: TomlValue[] = [];
    for (;;) {
      this.skipBlank();
      if (this.peek() === ']') { this.i++; return out; }
      if (this.i >= this.s.length) this.fail('toml::parse_array: missing array separator `,` after a value');
      out.push(this.parseValue());
      this.skipBlank();
      if (this.peek() === ',') { this.i++; continue; }
      if (this.peek() === ']') { this.i++; return out; }
      this.fail('toml::parse_array: missing array separator `,` after a value');
    }
  }

  private parseInlineTable(): TomlTable {
    this.i++;
    const t = newTable();
    this.skipWs();
    if (this.peek() === '}') { this.i++; inlineTables.add(t); return t; }
    for (;;) {
      this.skipWs();
      if (this.peek() === '}') this.fail('toml::parse_inline_table: trailing comma is not allowed in an inline table');
      this.parseKeyValue(t);
      this.skipWs();
      if (this.peek() === ',') { this.i++; continue; }
      if (this.peek() === '}') { this.i++; inlineTables.add(t); return t; }
      this.fail('toml::parse_inline_table: missing curly brace `}`');
    }
  }

  private controlCheck(c: number): void {
    if ((c < 0x20 && c !== 9) || c === 0x7f) this.fail('toml::parse_string: control character in a string');
  }

  private parseEscape(): string {
    const e = this.peek(1);
    const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
    if (e in simple) { this.i += 2; return simple[e]; }
    if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = this.s.slice(this.i + 2, this.i + 2 + n);
      if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(hex)) this.fail('toml::parse_escape_sequence: invalid unicode escape');
      const cp = parseInt(hex, 16);
      if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) this.fail('toml::read_utf8_codepoint: input codepoint is too large.');
      this.i += 2 + n;
      return String.fromCodePoint(cp);
    }
    return this.fail('toml::parse_escape_sequence: unknown escape sequence appeared.');
  }

  private parseBasicString(): string {
    this.i++;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length || this.peek() === '\n') this.fail('toml::parse_basic_string: the next token is not a valid string');
      const c = this.peek();
      if (c === '"') { this.i++; return out; }
      if (c === '\\') { out += this.parseEscape(); continue; }
      this.controlCheck(c.charCodeAt(0));
      out += c;
      this.i++;
    }
  }

  private parseLiteralString(): string {
    this.i++;
    const st = this.i;
    for (;;) {
      if (this.i >= this.s.length || this.peek() === '\n') this.fail('toml::parse_literal_string: the next token is not a valid string');
      const c = this.peek();
      if (c === "'") { this.i++; return this.s.slice(st, this.i - 1); }
      this.controlCheck(c.charCodeAt(0));
      this.i++;
    }
  }

  private skipFirstNewline(): void {
    if (this.peek() === '\n') { this.i++; this.line++; } else if (this.startsWith('\r\n')) { this.i += 2; this.line++; }
  }

  /** The closing run of a multi-line string: up to two quotes before the delimiter belong to the content. */
  private closing(q: string): number {
    if (!this.startsWith(q + q + q)) return -1;
    let n = 3;
    while (n < 5 && this.peek(n) === q) n++;
    return n - 3;
  }

  private parseMultilineBasic(): string {
    this.i += 3;
    this.skipFirstNewline();
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('toml::parse_ml_basic_string: the next token is not a valid multiline string');
      const extra = this.closing('"');
      if (extra >= 0) { this.i += 3 + extra; return out + '"'.repeat(extra); }
      const c = this.peek();
      if (c === '\\') {
        // A line-ending backslash swallows the newline and the blank space after it.
        const m = /^\\[ \t]*\r?\n/.exec(this.s.slice(this.i, this.i + 200));
        if (m) {
          this.i += m[0].length;
          this.line++;
          for (;;) {
            const d = this.peek();
            if (d === ' ' || d === '\t') this.i++;
            else if (d === '\n') { this.i++; this.line++; }
            else if (d === '\r' && this.peek(1) === '\n') { this.i += 2; this.line++; }
            else break;
          }
          continue;
        }
        out += this.parseEscape();
        continue;
      }
      if (c === '\n') { this.line++; out += c; this.i++; continue; }
      if (c === '\r' && this.peek(1) === '\n') { out += '\r\n'; this.i += 2; this.line++; continue; }
      this.controlCheck(c.charCodeAt(0));
      out += c;
      this.i++;
    }
  }

  private parseMultilineLiteral(): string {
    this.i += 3;
    this.skipFirstNewline();
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('toml::parse_ml_literal_string: the next token is not a valid multiline string');
      const extra = this.closing("'");
      if (extra >= 0) { this.i += 3 + extra; return out + "'".repeat(extra); }
      const c = this.peek();
      if (c === '\n') { this.line++; out += c; this.i++; continue; }
      if (c === '\r' && this.peek(1) === '\n') { out += '\r\n'; this.i += 2; this.line++; continue; }
      this.controlCheck(c.charCodeAt(0));
      out += c;
      this.i++;
    }
  }
}

/** builtins.fromTOML: the document as nested plain objects (null prototype); throws TomlError. */
export function fromTOML(text: string): TomlTable {
  const p = new Parser(text);
  const doc = p.parseDocument();
  // Nix converts after parsing and refuses dates and times wherever they are.
  if (p.sawDateTime) throw new TomlError('Dates and times are not supported', 0);
  return doc;
}
