// Number and string formatting exactly as Nix 2.8 prints values.
//
// Nix prints floats with a default C++ ostream (`str << double`, i.e. printf "%g" with 6
// significant digits) in `nix-instantiate --eval`, in `--json`/`builtins.toJSON` and in
// `--xml`/`toXML` alike; `toString` of a float is std::to_string ("%f", 6 decimals).
// glibc rounds exact ties to even, JS's toFixed/toExponential round them up, so ties are
// detected and rounded here.

const F64 = new Float64Array(1);
const U8 = new Uint8Array(F64.buffer);

function signBit(v: number): boolean {
  F64[0] = v;
  return (U8[7] & 0x80) !== 0;
}

/** inf / -inf / nan / -nan as glibc prints them, or null for a finite number. */
function nonFinite(v: number): string | null {
  if (Number.isNaN(v)) return signBit(v) ? '-nan' : 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return null;
}

/** The decimal digits of |v| (exact up to 100 significant digits) and its decimal exponent. */
function exactDigits(v: number): { digits: string; exp: number } {
  const s = Math.abs(v).toExponential(100);
  const [mant, e] = s.split('e');
  return { digits: mant.replace('.', ''), exp: Number(e) };
}

/** Rounds a digit string to `n` digits, half to even on exact ties; returns digits and carry. */
function roundDigits(digits: string, n: number): { digits: string; carry: boolean } {
  if (digits.length <= n) return { digits: digits.padEnd(n, '0'), carry: false };
  const head = digits.slice(0, n);
  const next = digits.charCodeAt(n) - 48;
  const restZero = /^0*$/.test(digits.slice(n + 1));
  const lastOdd = n > 0 && (head.charCodeAt(n - 1) - 48) % 2 === 1;
  const up = next > 5 || (next === 5 && (!restZero || lastOdd));
  if (!up) return { digits: head, carry: false };
  const arr = head.split('').map(Number);
  let k = n - 1;
  while (k >= 0) {
    if (arr[k] < 9) { arr[k]++; break; }
    arr[k] = 0;
    k--;
  }
  if (k < 0) return { digits: '1' + arr.join(''), carry: true };
  return { digits: arr.join(''), carry: false };
}

/** printf("%.{precision}g", v) as glibc does it (C++ ostream default with precision 6). */
export function formatG(v: number, precision = 6): string {
  const nf = nonFinite(v);
  if (nf !== null) return nf;
  const sign = signBit(v) ? '-' : '';
  if (v === 0) return sign + '0';
  const P = precision === 0 ? 1 : precision;
  const { digits, exp } = exactDigits(v);
  let r = roundDigits(digits, P);
  let X = exp;
  if (r.carry) { X++; r = { digits: r.digits.slice(0, P), carry: false }; }
  let body: string;
  if (X < P && X >= -4) {
    // Fixed notation with P - 1 - X decimals, trailing zeros removed.
    const d = r.digits;
    if (X >= 0) {
      const int = d.slice(0, X + 1);
      const frac = d.slice(X + 1).replace(/0+$/, '');
      body = frac ? `${int}.${frac}` : int;
    } else {
      const frac = ('0'.repeat(-X - 1) + d).replace(/0+$/, '');
      body = `0.${frac}`;
    }
  } else {
    const frac = r.digits.slice(1).replace(/0+$/, '');
    const e = Math.abs(X).toString().padStart(2, '0');
    body = `${r.digits[0]}${frac ? '.' + frac : ''}e${X < 0 ? '-' : '+'}${e}`;
  }
  return sign + body;
}

/** std::to_string(double): printf("%f"), 6 decimals (Nix's toString of a float). */
export function formatF(v: number, decimals = 6): string {
  const nf = nonFinite(v);
  if (nf !== null) return nf;
  const sign = signBit(v) ? '-' : '';
  const a = Math.abs(v);
  if (a >= 1e21) return sign + BigInt(a).toString() + (decimals > 0 ? '.' + '0'.repeat(decimals) : '');
  if (a === 0) return sign + '0' + (decimals > 0 ? '.' + '0'.repeat(decimals) : '');
  const { digits, exp } = exactDigits(a);
  // Number of significant digits kept: those down to the 10^-decimals place.
  const keep = exp + 1 + decimals;
  let int: string, frac: string;
  if (keep <= 0) {
    // Below half of the last place unless exactly representable ties (keep === 0 and first digit ≥ 5).
    const up = keep === 0 && (digits.charCodeAt(0) > 53 || (digits[0] === '5' && !/^0*$/.test(digits.slice(1))));
    const all = up ? '0'.repeat(decimals - 1) + '1' : '0'.repeat(decimals);
    int = '0'; frac = all;
    if (decimals === 0) int = up ? '1' : '0';
  } else {
    const r = roundDigits(digits, keep);
    const d = r.digits;
    const intLen = exp + 1 + (r.carry ? 1 : 0);
    const full = intLen <= 0 ? '0'.repeat(-intLen) + d : d;
    const il = Math.max(intLen, 0);
    int = il === 0 ? '0' : full.slice(0, il);
    frac = full.slice(il, il + decimals).padEnd(decimals, '0');
  }
  return sign + int + (decimals > 0 ? '.' + frac : '');
}

/** A float as `nix-instantiate --eval`, `--json`, `--xml`, toJSON and toXML print it. */
export function printFloat(v: number): string {
  return formatG(v, 6);
}

/** A float as `toString` / string interpolation renders it. */
export function floatToString(v: number): string {
  return formatF(v, 6);
}

/** A string value as `nix-instantiate --eval` prints it: `"`, `\`, `${`, \n \r \t escaped. */
export function printString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === '\\') out += '\\' + c;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '$' && s[i + 1] === '{') out += '\\$';
    else out += c;
  }
  return out + '"';
}

/** A string as Nix shows it inside attribute names and expressions (every `$` escaped). */
export function showString(s: string): string {
  let out = '"';
  for (const c of s) {
    if (c === '"' || c === '\\' || c === '$') out += '\\' + c;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else out += c;
  }
  return out + '"';
}

/** An attribute name as printed in `{ name = …; }`: bare when an identifier, quoted otherwise. */
export function printAttrName(name: string): string {
  if (name === '') return '""';
  if (name === 'if') return '"if"';
  if (!/^[A-Za-z_][A-Za-z0-9_'-]*$/.test(name)) return showString(name);
  return name;
}

/** A string as Nix 2.8 writes it in JSON (--json, toJSON): `"` `\\` \n \r \t escaped, other
 *  control characters as \u00xx with lowercase hex (so \b is \u0008), everything else raw. */
export function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}
