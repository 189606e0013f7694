// POSIX extended regular expressions as Nix 2.8's builtins.match / builtins.split see them
// (libstdc++ std::regex with regex::extended), translated to JS RegExps.
//
// Nix strings are bytes and libstdc++ matches char by char, so a pattern or subject holding
// non-ASCII characters is matched over its UTF-8 bytes (each byte a UTF-16 unit 0..255) and
// the captured parts are decoded back. Known differences from libstdc++ (not emulated; a real
// libstdc++-style matcher would be needed): split takes POSIX's longest match among alternatives
// starting at the same place (JS takes the first alternative that matches), captures of groups
// inside repeated groups (libstdc++ keeps an earlier iteration's capture, JS resets it), and
// a final empty iteration of `*`/`+` over a group that can match empty (libstdc++ captures "").

import { TsixError } from '../../store/errors.js';

/** An invalid pattern, with Nix's message (`invalid regular expression '…'`). */
export class RegexError extends TsixError {
  constructor(pattern: string, detail: string) {
    super('E_EVAL', `invalid regular expression '${pattern}'`, { pattern, detail });
  }
}

interface Compiled {
  /** Anchored at both ends, for match. */
  whole: RegExp;
  /** Global, for split. */
  search: RegExp;
  /** The pattern needs the subject as UTF-8 bytes. */
  bytes: boolean;
}

// libstdc++ character classes in the "C" locale.
const CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', blank: '\\t ', cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9', d: '0-9', graph: '\\x21-\\x7e', lower: 'a-z', print: '\\x20-\\x7e',
  punct: '\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e', space: '\\t\\n\\v\\f\\r ', s: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', xdigit: '0-9A-Fa-f', w: '0-9A-Za-z_',
};

// Names accepted in [[.name.]] besides single characters (POSIX portable set, the common ones).
const COLLATING: Record<string, string> = {
  NUL: '\0', tab: '\t', newline: '\n', 'vertical-tab': '\v', 'form-feed': '\f', 'carriage-return': '\r',
  space: ' ', 'exclamation-mark': '!', 'quotation-mark': '"', 'number-sign': '#', 'dollar-sign': '$',
  'percent-sign': '%', ampersand: '&', apostrophe: "'", 'left-parenthesis': '(', 'right-parenthesis': ')',
  asterisk: '*', 'plus-sign': '+', comma: ',', hyphen: '-', 'hyphen-minus': '-', period: '.',
  'full-stop': '.', slash: '/', solidus: '/', zero: '0', one: '1', two: '2', three: '3', four: '4',
  five: '5', six: '6', seven: '7', eight: '8', nine: '9', colon: ':', semicolon: ';',
  'less-than-sign': '<', 'equals-sign': '=', 'greater-than-sign': '>', 'question-mark': '?',
  'commercial-at': '@', 'left-square-bracket': '[', backslash: '\\', 'reverse-solidus': '\\',
  'right-square-bracket': ']', circumflex: '^', 'circumflex-accent': '^', underscore: '_',
  'low-line': '_', 'grave-accent': '`', 'left-brace': '{', 'left-curly-bracket': '{',
  'vertical-line': '|', 'right-brace': '}', 'right-curly-bracket': '}', tilde: '~', DEL: '\x7f',
};

// Characters that may follow a backslash outside brackets (libstdc++ _M_extended_spec_char).
const ESCAPABLE = '.[\\()*+?{|^$';

const NON_ASCII = /[^\x00-\x7f]/;

function hex(c: number): string {
  return c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
}

function toBytes(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

function fromBytes(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/** Translates an ERE (already in byte form) into JS RegExp source; throws RegexError. */
export function translateERE(pattern: string, original = pattern): string {
  const fail = (detail: string): never => { throw new RegexError(original, detail); };
  let out = '';
  let i = 0;
  let depth = 0;
  // Start offset in `out` of the last atom (with its quantifiers), or -1 where a repeat is invalid.
  let atomStart = -1;
  let quantified = false;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      if (atomStart < 0) fail('repeat without an operand');
      let q = c;
      i++;
      if (c === '{') {
        const m = /^(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) fail('bad brace');
        const lo = Number(m![1]);
        const hi = m![2] === undefined ? lo : m![3] === '' ? Infinity : Number(m![3]);
        if (hi < lo) fail('bad brace range');
        q = hi === Infinity ? `{${lo},}` : hi === lo ? `{${lo}}` : `{${lo},${hi}}`;
        i += m![0].length;
      }
      // POSIX repeats never become lazy or possessive: a repeat of a repeat is nested.
      if (quantified) out = out.slice(0, atomStart) + '(?:' + out.slice(atomStart) + ')';
      if (q === '?' || q === '{0,1}') {
        // libstdc++ lets an optional operand match empty (capturing ""), where JS refuses an
        // empty iteration; an alternation with the empty string has libstdc++'s behaviour.
        out = out.slice(0, atomStart) + '(?:' + out.slice(atomStart) + '|)';
      } else {
        out += q;
      }
      quantified = true;
      continue;
    }
    quantified = false;
    if (c === '(') {
      depth++;
      out += '(';
      atomStart = -1;
      i++;
      // Remember where this group starts so that a repeat after ')' covers it.
      groupStarts.push(out.length - 1);
      continue;
    }
    if (c === ')') {
      if (depth === 0) fail('unmatched )');
      depth--;
      out += ')';
      atomStart = groupStarts.pop()!;
      i++;
      continue;
    }
    if (c === '|') {
      out += '|';
      atomStart = -1;
      i++;
      continue;
    }
    if (c === '^' || c === '$') {
      out += c;
      atomStart = c === '^' ? -1 : out.length - 1;
      i++;
      continue;
    }
    atomStart = out.length;
    if (c === '.') {
      out += '[^]';
      i++;
    } else if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) fail('trailing backslash');
      if (!ESCAPABLE.includes(n)) fail(`bad escape \\${n}`);
      out += hex(n.charCodeAt(0));
      i += 2;
    } else if (c === '[') {
      const [cls, next] = translateBracket(pattern, i + 1, fail);
      out += cls;
      i = next;
    } else {
      out += hex(c.charCodeAt(0));
      i++;
    }
  }
  if (depth !== 0) fail('unmatched (');
  groupStarts.length = 0;
  return out;
}

// Group start offsets of the translation in progress (translateERE is not re-entrant).
const groupStarts: number[] = [];

type BracketItem = { kind: 'char'; code: number } | { kind: 'class'; src: string };

/** Parses a bracket expression starting after '['; returns the JS class and the index after ']'. */
function translateBracket(p: string, start: number, fail: (d: string) => never): [string, number] {
  let i = start;
  let negate = false;
  if (p[i] === '^') { negate = true; i++; }
  const parts: string[] = [];
  let first = true;
  const readItem = (): BracketItem => {
    if (p[i] === '[' && (p[i + 1] === ':' || p[i + 1] === '.' || p[i + 1] === '=')) {
      const delim = p[i + 1];
      const end = p.indexOf(delim + ']', i + 2);
      if (end < 0) fail('unterminated [' + delim);
      const name = p.slice(i + 2, end);
      i = end + 2;
      if (delim === ':') {
        const cls = CLASSES[name];
        if (cls === undefined) fail(`unknown class ${name}`);
        return { kind: 'class', src: cls };
      }
      const ch = name.length === 1 ? name : COLLATING[name];
      if (ch === undefined) fail(`unknown collating element ${name}`);
      return { kind: 'char', code: ch!.charCodeAt(0) };
    }
    if (i >= p.length) fail('unterminated [');
    return { kind: 'char', code: p.charCodeAt(i++) };
  };
  for (;;) {
    if (i >= p.length) fail('unterminated [');
    if (p[i] === ']' && !first) { i++; break; }
    first = false;
    const item = readItem();
    if (p[i] === '-' && p[i + 1] !== ']' && i + 1 < p.length) {
      i++;
      const hi = readItem();
      if (item.kind !== 'char' || hi.kind !== 'char') fail('class in a range');
      const lo = (item as { code: number }).code;
      const up = (hi as { code: number }).code;
      if (up < lo) fail('bad range');
      if (p[i] === '-' && p[i + 1] !== ']') fail('range followed by -');
      parts.push(`${hex(lo)}-${hex(up)}`);
    } else {
      parts.push(item.kind === 'char' ? hex(item.code) : item.src);
    }
  }
  // An empty negated class ([^] in JS) means "any character", so only emit it when non-empty.
  return [`[${negate ? '^' : ''}${parts.join('')}]`, i];
}

const cache = new Map<string, Compiled>();

/** Compiles (once per pattern) a Nix regex; throws RegexError when it is invalid. */
export function compileNixRegex(re: string): Compiled {
  let c = cache.get(re);
  if (c === undefined) {
    const bytes = NON_ASCII.test(re);
    const src = translateERE(toBytes(re), re);
    let whole: RegExp, search: RegExp;
    try {
      whole = new RegExp(`^(?:${src})$`);
      search = new RegExp(src, 'g');
    } catch (e) {
      throw new RegexError(re, String(e));
    }
    c = { whole, search, bytes };
    cache.set(re, c);
  }
  return c;
}

function groups(m: RegExpExecArray, bytes: boolean): (string | null)[] {
  const out: (string | null)[] = [];
  for (let k = 1; k < m.length; k++) {
    const g = m[k];
    out.push(g === undefined ? null : bytes ? fromBytes(g) : g);
  }
  return out;
}

/** builtins.match: the groups when `re` matches the WHOLE of `s` (null for unmatched groups), else null. */
export function nixMatch(re: string, s: string): (string | null)[] | null {
  const c = compileNixRegex(re);
  const bytes = c.bytes || NON_ASCII.test(s);
  const m = c.whole.exec(bytes ? toBytes(s) : s);
  return m === null ? null : groups(m, bytes);
}

/** builtins.split: non-matching parts interleaved with the lists of each match's groups. */
export function nixSplit(re: string, s: string): (string | (string | null)[])[] {
  const c = compileNixRegex(re);
  const bytes = c.bytes || NON_ASCII.test(s);
  const subject = bytes ? toBytes(s) : s;
  const rx = c.search;
  rx.lastIndex = 0;
  const out: (string | (string | null)[])[] = [];
  let prev = 0;
  for (;;) {
    const m = rx.exec(subject);
    if (m === null) break;
    const pre = subject.slice(prev, m.index);
    out.push(bytes ? fromBytes(pre) : pre);
    out.push(groups(m, bytes));
    prev = m.index + m[0].length;
    if (m[0].length === 0) rx.lastIndex = m.index + 1;
    if (m.index >= subject.length) break;
  }
  rx.lastIndex = 0;
  if (out.length === 0) return [s];
  const rest = subject.slice(prev);
  out.push(bytes ? fromBytes(rest) : rest);
  return out;
}
