// builtins.fromJSON as Nix 2.8 parses (nlohmann::json's SAX parser underneath), with the same
// values (integers as bigint, floats as number, objects with a null prototype, a repeated key's
// last value wins) and the same error messages, e.g.
//   [json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing
//   object key - unexpected end of input; expected string literal
// Positions count UTF-8 bytes as nlohmann does, so the input is scanned as bytes.

import { TsixError } from '../../store/errors.js';

export type JsonValue = bigint | number | string | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** JSON that Nix refuses; the message is nlohmann::json's what(). */
export class JsonParseError extends TsixError {
  constructor(message: string) {
    super('E_EVAL', message, {});
  }
}

const enum T {
  Uninitialized, True, False, Null, String, Unsigned, Integer, Float, BeginArray, BeginObject,
  EndArray, EndObject, NameSeparator, ValueSeparator, ParseError, EndOfInput, LiteralOrValue,
}

const TOKEN_NAMES: Record<T, string> = {
  [T.Uninitialized]: '<uninitialized>', [T.True]: 'true literal', [T.False]: 'false literal', [T.Null]: 'null literal',
  [T.String]: 'string literal', [T.Unsigned]: 'number literal', [T.Integer]: 'number literal', [T.Float]: 'number literal',
  [T.BeginArray]: "'['", [T.BeginObject]: "'{'", [T.EndArray]: "']'", [T.EndObject]: "'}'", [T.NameSeparator]: "':'",
  [T.ValueSeparator]: "','", [T.ParseError]: '<parse error>', [T.EndOfInput]: 'end of input', [T.LiteralOrValue]: "'[', '{', or a literal",
};

const EOF = -1;
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

const CONTROL_NAMES = ['NUL', 'SOH', 'STX', 'ETX', 'EOT', 'ENQ', 'ACK', 'BEL', 'BS', 'HT', 'LF', 'VT', 'FF', 'CR', 'SO', 'SI',
  'DLE', 'DC1', 'DC2', 'DC3', 'DC4', 'NAK', 'SYN', 'ETB', 'CAN', 'EM', 'SUB', 'ESC', 'FS', 'GS', 'RS', 'US'];
const SHORT_ESCAPES: Record<number, string> = { 8: 'b', 9: 't', 10: 'n', 12: 'f', 13: 'r' };

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

/** nlohmann's lexer, byte for byte, with its position bookkeeping (get/unget). */
class Lexer {
  private pos = 0;
  private current = EOF;
  private nextUnget = false;
  private charsTotal = 0;
  private charsLine = 0;
  private lines = 0;
  private tokenBytes: number[] = [];
  private stringBytes: number[] = [];
  errorMessage = '';
  numberText = '';

  constructor(private readonly b: Uint8Array) {}

  private get(): number {
    this.charsTotal++;
    this.charsLine++;
    if (this.nextUnget) this.nextUnget = false;
    else this.current = this.pos < this.b.length ? this.b[this.pos++] : EOF;
    if (this.current !== EOF) this.tokenBytes.push(this.current);
    if (this.current === 10) { this.lines++; this.charsLine = 0; }
    return this.current;
  }

  private unget(): void {
    this.nextUnget = true;
    this.charsTotal--;
    if (this.charsLine === 0) { if (this.lines > 0) this.lines--; } else this.charsLine--;
    if (this.current !== EOF) this.tokenBytes.pop();
  }

  private reset(): void {
    this.tokenBytes = this.current === EOF ? [] : [this.current];
    this.stringBytes = [];
  }

  position(): string {
    return `line ${this.lines + 1}, column ${this.charsLine}`;
  }

  tokenString(): string {
    let s = '';
    for (const c of this.tokenBytes) s += c <= 0x1f ? `<U+${hex4(c)}>` : String.fromCharCode(c);
    return Buffer.from(s, 'latin1').toString('utf8');
  }

  /** The string read; Nix keeps strings as C strings, so a \u0000 ends it. */
  stringValue(): string {
    const nul = this.stringBytes.indexOf(0);
    return Buffer.from(nul < 0 ? this.stringBytes : this.stringBytes.slice(0, nul)).toString('utf8');
  }

  scan(): T {
    if (this.charsTotal === 0) {
      // skip_bom: a UTF-8 byte order mark may start the input.
      if (this.get() === 0xef) {
        if (this.get() === 0xbb && this.get() === 0xbf) { /* skipped */ } else { this.errorMessage = 'invalid BOM; must be 0xEF 0xBB 0xBF if given'; return T.ParseError; }
      } else this.unget();
    }
    do this.get(); while (this.current === 32 || this.current === 9 || this.current === 10 || this.current === 13);
    switch (this.current) {
      case 0x5b: return T.BeginArray;
      case 0x5d: return T.EndArray;
      case 0x7b: return T.BeginObject;
      case 0x7d: return T.EndObject;
      case 0x3a: return T.NameSeparator;
      case 0x2c: return T.ValueSeparator;
      case 0x74: return this.scanLiteral('true', T.True);
      case 0x66: return this.scanLiteral('false', T.False);
      case 0x6e: return this.scanLiteral('null', T.Null);
      case 0x22: return this.scanString();
      case 0: case EOF: return T.EndOfInput;
      default:
        if (this.current === 0x2d || (this.current >= 0x30 && this.current <= 0x39)) return this.scanNumber();
        this.errorMessage = 'invalid literal';
        return T.ParseError;
    }
  }

  private scanLiteral(lit: string, t: T): T {
    this.reset();
    for (let i = 1; i < lit.length; i++) {
      if (this.get() !== lit.charCodeAt(i)) { this.errorMessage = 'invalid literal'; return T.ParseError; }
    }
    return t;
  }

  private hexDigits(): number {
    let cp = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.get();
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
      if (d < 0) return -1;
      cp = cp * 16 + d;
    }
    return cp;
  }

  private addCodepoint(cp: number): void {
    for (const x of Buffer.from(String.fromCodePoint(cp), 'utf8')) this.stringBytes.push(x);
  }

  private scanString(): T {
    this.reset();
    for (;;) {
      const c = this.get();
      if (c === EOF) { this.errorMessage = 'invalid string: missing closing quote'; return T.ParseError; }
      if (c === 0x22) return T.String;
      if (c === 0x5c) {
        const e = this.get();
        const simple: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9 };
        if (e in simple) { this.stringBytes.push(simple[e]); continue; }
        if (e !== 0x75) { this.errorMessage = 'invalid string: forbidden character after backslash'; return T.ParseError; }
        let cp = this.hexDigits();
        if (cp < 0) { this.errorMessage = "invalid string: '\\u' must be followed by 4 hex digits"; return T.ParseError; }
        if (cp >= 0xd800 && cp <= 0xdbff) {
          if (this.get() === 0x5c && this.get() === 0x75) {
            const lo = this.hexDigits();
            if (lo < 0) { this.errorMessage = "invalid string: '\\u' must be followed by 4 hex digits"; return T.ParseError; }
            if (lo < 0xdc00 || lo > 0xdfff) { this.errorMessage = 'invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF'; return T.ParseError; }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else {
            this.errorMessage = 'invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF';
            return T.ParseError;
          }
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          this.errorMessage = 'invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF';
          return T.ParseError;
        }
        this.addCodepoint(cp);
        continue;
      }
      if (c <= 0x1f) {
        const short = SHORT_ESCAPES[c];
        this.errorMessage = `invalid string: control character U+${hex4(c)} (${CONTROL_NAMES[c]}) must be escaped to \\u${hex4(c)}${short ? ` or \\${short}` : ''}`;
        return T.ParseError;
      }
      // The input came from a JS string, so its UTF-8 is well formed.
      this.stringBytes.push(c);
    }
  }

  private isDigit(c: number): boolean {
    return c >= 0x30 && c <= 0x39;
  }

  private scanNumber(): T {
    this.reset();
    let t = T.Unsigned;
    let c = this.current;
    const fail = (m: string): T => { this.errorMessage = m; return T.ParseError; };
    if (c === 0x2d) {
      t = T.Integer;
      c = this.get();
      if (!this.isDigit(c)) return fail("invalid number; expected digit after '-'");
    }
    if (c !== 0x30) while (this.isDigit(c = this.get()));
    else c = this.get();
    if (c === 0x2e) {
      t = T.Float;
      if (!this.isDigit(this.get())) return fail("invalid number; expected digit after '.'");
      while (this.isDigit(c = this.get()));
    }
    if (c === 0x65 || c === 0x45) {
      t = T.Float;
      c = this.get();
      if (c === 0x2b || c === 0x2d) {
        if (!this.isDigit(this.get())) return fail('invalid number; expected digit after exponent sign');
      } else if (!this.isDigit(c)) {
        return fail("invalid number; expected '+', '-', or digit after exponent");
      }
      while (this.isDigit(this.get()));
    }
    this.unget();
    this.numberText = Buffer.from(this.tokenBytes).toString('latin1');
    return t;
  }
}

class Parser {
  private readonly lexer: Lexer;
  private last: T = T.Uninitialized;

  constructor(bytes: Uint8Array) {
    this.lexer = new Lexer(bytes);
    this.next();
  }

  private next(): T {
    this.last = this.lexer.scan();
    return this.last;
  }

  private fail(expected: T, context: string): never {
    let msg = `syntax error while parsing ${context} - `;
    if (this.last === T.ParseError) msg += `${this.lexer.errorMessage}; last read: '${this.lexer.tokenString()}'`;
    else msg += `unexpected ${TOKEN_NAMES[this.last]}`;
    if (expected !== T.Uninitialized) msg += `; expected ${TOKEN_NAMES[expected]}`;
    throw new JsonParseError(`[json.exception.parse_error.101] parse error at ${this.lexer.position()}: ${msg}`);
  }

  private scalar(): JsonValue {
    switch (this.last) {
      case T.True: return true;
      case T.False: return false;
      case T.Null: return null;
      case T.String: return this.lexer.stringValue();
      case T.Unsigned: case T.Integer: {
        const n = BigInt(this.lexer.numberText);
        // strtoull/strtoll overflow makes nlohmann read the number as a float; an unsigned
        // beyond int64 is narrowed by Nix (mkInt of a uint64).
        if (this.last === T.Unsigned) return n > UINT64_MAX ? this.float() : BigInt.asIntN(64, n);
        return n < -(INT64_MAX + 1n) ? this.float() : n;
      }
      case T.Float: return this.float();
      case T.ParseError: return this.fail(T.Uninitialized, 'value');
      default: return this.fail(T.LiteralOrValue, 'value');
    }
  }

  private float(): number {
    const v = Number(this.lexer.numberText);
    if (!Number.isFinite(v)) throw new JsonParseError(`[json.exception.out_of_range.406] number overflow parsing '${this.lexer.numberText}'`);
    return v;
  }

  /** sax_parse_internal, iteratively (deep nesting must not overflow the JS stack). */
  parse(): JsonValue {
    type Frame = { arr: JsonValue[] } | { obj: { [k: string]: JsonValue }; key: string };
    const stack: Frame[] = [];
    let value: JsonValue;
    for (;;) {
      // Parse one value (opening containers push a frame).
      if (this.last === T.BeginObject) {
        const obj = Object.create(null) as { [k: string]: JsonValue };
        if (this.next() === T.EndObject) value = obj;
        else {
          if ((this.last as T) !== T.String) this.fail(T.String, 'object key');
          const key = this.lexer.stringValue();
          if (this.next() !== T.NameSeparator) this.fail(T.NameSeparator, 'object separator');
          stack.push({ obj, key });
          this.next();
          continue;
        }
      } else if (this.last === T.BeginArray) {
        const arr: JsonValue[] = [];
        if (this.next() === T.EndArray) value = arr;
        else { stack.push({ arr }); continue; }
      } else {
        value = this.scalar();
      }
      // Attach it to the enclosing containers, closing those that end here.
      for (;;) {
        const top = stack[stack.length - 1];
        if (top === undefined) {
          if (this.next() !== T.EndOfInput) this.fail(T.EndOfInput, 'value');
          return value;
        }
        if ('arr' in top) {
          top.arr.push(value);
          if (this.next() === T.ValueSeparator) { this.next(); break; }
          if (this.last === T.EndArray) { stack.pop(); value = top.arr; continue; }
          this.fail(T.EndArray, 'array');
        } else {
          top.obj[top.key] = value;
          if (this.next() === T.ValueSeparator) {
            if (this.next() !== T.String) this.fail(T.String, 'object key');
            top.key = this.lexer.stringValue();
            if (this.next() !== T.NameSeparator) this.fail(T.NameSeparator, 'object separator');
            this.next();
            break;
          }
          if (this.last === T.EndObject) { stack.pop(); value = top.obj; continue; }
          this.fail(T.EndObject, 'object');
        }
      }
    }
  }
}

/** builtins.fromJSON: the value, or a JsonParseError with nlohmann::json's message. */
export function fromJSON(text: string): JsonValue {
  return new Parser(Buffer.from(text, 'utf8')).parse();
}
