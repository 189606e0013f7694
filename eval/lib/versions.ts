// Version strings as Nix 2.8 compares and splits them (libstore/names.cc):
// builtins.compareVersions, builtins.splitVersion, builtins.parseDrvName.

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isSep = (c: number): boolean => c === 46 /* . */ || c === 45 /* - */;

/** The next component of `s` from `pos`: a run of digits or a run of non-digit non-separators. */
function nextComponent(s: string, pos: number): [string, number] {
  let p = pos;
  while (p < s.length && isSep(s.charCodeAt(p))) p++;
  if (p >= s.length) return ['', p];
  const start = p;
  if (isDigit(s.charCodeAt(p))) {
    while (p < s.length && isDigit(s.charCodeAt(p))) p++;
  } else {
    while (p < s.length && !isDigit(s.charCodeAt(p)) && !isSep(s.charCodeAt(p))) p++;
  }
  return [s.slice(start, p), p];
}

const INT_MAX = 2147483647;

/** string2Int<int>: all digits and within a C int, else null (Nix falls back to string order). */
function toInt(c: string): number | null {
  if (c === '' || !/^[0-9]+$/.test(c)) return null;
  const n = Number(c);
  return n > INT_MAX ? null : n;
}

/** Byte-wise comparison (std::string_view operator<) of two strings. */
function bytesLess(a: string, b: string): boolean {
  if (/^[\x00-\x7f]*$/.test(a + b)) return a < b;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) < 0;
}

function componentsLT(c1: string, c2: string): boolean {
  const n1 = toInt(c1);
  const n2 = toInt(c2);
  if (n1 !== null && n2 !== null) return n1 < n2;
  if (c1 === '' && n2 !== null) return true;
  if (c1 === 'pre' && c2 !== 'pre') return true;
  if (c2 === 'pre') return false;
  // Assume that `2.3a' < `2.3.1'.
  if (n2 !== null) return true;
  if (n1 !== null) return false;
  return bytesLess(c1, c2);
}

/** builtins.compareVersions: -1, 0 or 1. */
export function compareVersions(v1: string, v2: string): -1 | 0 | 1 {
  let p1 = 0;
  let p2 = 0;
  while (p1 < v1.length || p2 < v2.length) {
    const [c1, n1] = nextComponent(v1, p1);
    const [c2, n2] = nextComponent(v2, p2);
    p1 = n1;
    p2 = n2;
    if (componentsLT(c1, c2)) return -1;
    if (componentsLT(c2, c1)) return 1;
  }
  return 0;
}

/** builtins.splitVersion. */
export function splitVersion(v: string): string[] {
  const out: string[] = [];
  let p = 0;
  while (p < v.length) {
    const [c, n] = nextComponent(v, p);
    p = n;
    if (c === '') break;
    out.push(c);
  }
  return out;
}

/** builtins.parseDrvName: the name ends at the first dash not followed by a letter. */
export function parseDrvName(s: string): { name: string; version: string } {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 45 && i + 1 < s.length && !isAlpha(s.charCodeAt(i + 1))) {
      return { name: s.slice(0, i), version: s.slice(i + 1) };
    }
  }
  return { name: s, version: '' };
}
