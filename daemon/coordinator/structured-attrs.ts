// Structured attributes (__structuredAttrs = true) as Nix 2.8 hands them to a builder: the
// derivation's __json with an "outputs" object added, re-serialised by nlohmann::json into
// .attrs.json, and the shell-representable part of it as `declare` lines in .attrs.sh
// (writeStructuredAttrsShell). Byte-exact output needs nlohmann's view of the JSON: objects
// sorted by key, integers kept apart from floats, floats printed its way.
import { compareNames } from '../../store/castore/nodes.js';

export type Json = null | boolean | string | JsonInt | JsonFloat | Json[] | { [k: string]: Json };
/** An integer as nlohmann stores it (int64/uint64). */
export class JsonInt { constructor(readonly value: bigint) {} }
/** A floating-point number (a literal with '.', 'e' or 'E', or an integer too big for 64 bits). */
export class JsonFloat { constructor(readonly value: number) {} }

// Sticky: matched at the parser's position without copying the rest of the text.
const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;

/** Parses JSON keeping integers and floats apart. Throws SyntaxError on malformed input. */
export function parseJson(text: string): Json {
  let i = 0;
  const ws = (): void => { while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++; };
  const fail = (what: string): never => { throw new SyntaxError(`JSON: ${what} at offset ${i}`); };
  const value = (): Json => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: { [k: string]: Json } = {};
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = str();
        ws();
        if (text[i++] !== ':') fail("expected ':'");
        o[k] = value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === '}') return o;
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const a: Json[] = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === ']') return a;
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) { i += word.length; return v; }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail('unexpected character');
    i += m[0].length;
    if (m[2] === undefined && m[3] === undefined) {
      const b = BigInt(m[0]);
      if (b >= -(1n << 63n) && b < (1n << 64n)) return new JsonInt(b);
    }
    return new JsonFloat(Number(m[0]));
  };
  const str = (): string => {
    STRING.lastIndex = i;
    const m = STRING.exec(text);
    if (!m) return fail('malformed string');
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

function isObject(v: Json): v is { [k: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonInt) && !(v instanceof JsonFloat);
}

/** Sorted keys, as nlohmann's std::map-backed objects iterate. */
export function sortedKeys(o: { [k: string]: Json }): string[] {
  return Object.keys(o).sort(compareNames);
}

/** nlohmann::detail::to_chars: shortest digits; plain notation for decimal exponents in
 *  (-4, 15], with ".0" on whole numbers; otherwise d.ddde±XX with at least two exponent digits. */
export function formatFloat(x: number): string {
  if (Object.is(x, 0) || Object.is(x, -0)) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, exp] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const k = digits.length;
  const n = Number(exp) + 1; // position of the decimal point after the first digit
  let body: string;
  if (k <= n && n <= 15) body = digits + '0'.repeat(n - k) + '.0';
  else if (0 < n && n <= 15) body = `${digits.slice(0, n)}.${digits.slice(n)}`;
  else if (-4 < n && n <= 0) body = `0.${'0'.repeat(-n)}${digits}`;
  else {
    const e = n - 1;
    const abs = Math.abs(e);
    body = `${k === 1 ? digits : `${digits[0]}.${digits.slice(1)}`}e${e < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  return sign + body;
}

/** json.dump() (compact, UTF-8 kept, control characters escaped). */
export function dumpJson(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof JsonInt) return v.value.toString();
  if (v instanceof JsonFloat) return formatFloat(v.value);
  if (Array.isArray(v)) return `[${v.map(dumpJson).join(',')}]`;
  return `{${sortedKeys(v).map((k) => `${JSON.stringify(k)}:${dumpJson(v[k]!)}`).join(',')}}`;
}

function shellEscape(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** C++ static_cast<int> of a value as x86-64 does it (wraps integers, INT_MIN for floats out of range). */
function toCInt(v: JsonInt | JsonFloat): number {
  if (v instanceof JsonInt) return Number(BigInt.asIntN(32, v.value));
  const t = Math.trunc(v.value);
  return t >= -2147483648 && t <= 2147483647 ? t : -2147483648;
}

// writeStructuredAttrsShell's handleSimpleType: strings quoted; numbers that are whole as
// 32-bit floats, printed as a C int; null ''; booleans 1 or empty; anything else: not simple.
function simple(v: Json): string | null {
  if (typeof v === 'string') return shellEscape(v);
  if (v instanceof JsonInt || v instanceof JsonFloat) {
    const f = Math.fround(v instanceof JsonInt ? Number(v.value) : v.value);
    if (Math.ceil(f) === f) return String(toCInt(v));
    return null;
  }
  if (v === null) return "''";
  if (typeof v === 'boolean') return v ? '1' : '';
  return null;
}

const SH_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The contents of .attrs.sh for the top-level object `json`. */
export function structuredAttrsShell(json: { [k: string]: Json }): string {
  let out = '';
  for (const key of sortedKeys(json)) {
    if (!SH_VAR.test(key)) continue;
    const value = json[key]!;
    const s = simple(value);
    if (s !== null) {
      out += `declare ${key}=${s}\n`;
    } else if (Array.isArray(value)) {
      const items = value.map(simple);
      if (items.every((x) => x !== null)) out += `declare -a ${key}=(${items.map((x) => `${x} `).join('')})\n`;
    } else if (isObject(value)) {
      const items = sortedKeys(value).map((k) => [k, simple(value[k]!)] as const);
      if (items.every(([, x]) => x !== null)) out += `declare -A ${key}=(${items.map(([k, x]) => `[${shellEscape(k)}]=${x} `).join('')})\n`;
    }
  }
  return out;
}

/** The structured attributes a builder sees: `__json` plus "outputs" (name → path). */
export function prepareStructuredAttrs(jsonText: string, outputs: Record<string, string>): { [k: string]: Json } {
  const json = parseJson(jsonText);
  if (!isObject(json)) throw new SyntaxError('__json is not a JSON object');
  const outs: { [k: string]: Json } = {};
  for (const [name, path] of Object.entries(outputs)) outs[name] = path;
  json.outputs = outs;
  return json;
}
