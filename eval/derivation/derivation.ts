// The derivation model and its ATerm form (`Derive([...],...)`), byte-identical with Nix 2.8's
// Derivation::unparse, plus a strict parser for reading .drv files back.
import { InvalidInputError } from '../../store/errors.js';

/**
 * One output as the .drv file spells it. Which kind it is follows from which fields are empty:
 * input-addressed (path only), fixed (path, hashAlgo, hash), floating CA (hashAlgo only),
 * deferred (all empty).
 */
export interface DerivationOutput {
  path: string;
  /** `[r:]<algo>` for content-addressed outputs, else ''. */
  hashAlgo: string;
  /** Base16 hash of a fixed output, else ''. */
  hash: string;
}

export interface Derivation {
  /** The derivation name (the .drv path's name without `.drv`). */
  name: string;
  outputs: Map<string, DerivationOutput>;
  /** .drv store path → names of the outputs used. */
  inputDrvs: Map<string, Set<string>>;
  inputSrcs: Set<string>;
  system: string;
  builder: string;
  args: string[];
  env: Map<string, string>;
}

export type OutputKind = 'inputAddressed' | 'fixed' | 'floating' | 'deferred' | 'impure';

export function outputKind(o: DerivationOutput): OutputKind {
  if (o.hashAlgo !== '') {
    if (o.hash === 'impure') return 'impure';
    return o.hash !== '' ? 'fixed' : 'floating';
  }
  return o.path === '' ? 'deferred' : 'inputAddressed';
}

/** A .drv file that is not in the form Nix writes (code E_INVALID_INPUT), naming the byte offset. */
export class DerivationParseError extends InvalidInputError {
  constructor(message: string, offset: number, where: string) {
    super('derivation', `${message} at offset ${offset}${where ? ` of ${where}` : ''}`, { offset, where });
  }
}

// ---- ordering --------------------------------------------------------------------------------

/** Byte order of the UTF-8 encodings (std::string's order); UTF-16 order differs only past U+D7FF. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x < 0xd800 && y < 0xd800) return x - y;
      return Buffer.compare(Buffer.from(a.slice(i), 'utf8'), Buffer.from(b.slice(i), 'utf8'));
    }
  }
  return a.length - b.length;
}

export function sortedKeys<T>(m: Map<string, T> | Set<string>): string[] {
  const keys = [...m.keys()];
  // Without characters from U+D800 on, UTF-16 order (the default sort's, native) is byte order.
  for (let i = 0; i < keys.length; i++) if (AT_OR_ABOVE_D800.test(keys[i]!)) return keys.sort(compareBytes);
  return keys.sort();
}

const AT_OR_ABOVE_D800 = /[\ud800-\uffff]/;

// ---- printing --------------------------------------------------------------------------------

const NEEDS_ESCAPE = /["\\\n\r\t]/;
const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Nix's printString: quotes, escaping `"` `\` and newline, return, tab. */
export function atermString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  return '"' + s.replace(/["\\\n\r\t]/g, (c) => ESCAPES[c]!) + '"';
}

function atermList(items: Iterable<string>, quote: (s: string) => string): string {
  let s = '[';
  let first = true;
  for (const i of items) {
    if (first) first = false; else s += ',';
    s += quote(i);
  }
  return s + ']';
}

// Output names, paths, hash algorithms and hashes are printed unescaped, as Nix does.
const raw = (s: string): string => '"' + s + '"';

export interface UnparseOptions {
  /** Print output paths and the env values named after outputs as '' (the masked form). */
  maskOutputs?: boolean;
  /** Replaces inputDrvs (hashDerivationModulo passes modulo hashes → output names). */
  actualInputs?: Map<string, Set<string>>;
}

/** The ATerm text of a derivation, exactly as Nix 2.8 writes it. */
export function unparseDerivation(drv: Derivation, opts: UnparseOptions = {}): string {
  // String concatenation (V8 ropes) beats collecting parts here; this runs three times per derivation.
  const mask = opts.maskOutputs === true;
  let s = 'Derive([';
  let first = true;
  for (const name of sortedKeys(drv.outputs)) {
    const o = drv.outputs.get(name)!;
    if (first) first = false; else s += ',';
    const kind = outputKind(o);
    const path = mask || kind === 'deferred' || kind === 'floating' || kind === 'impure' ? '' : o.path;
    s += '("' + name + '","' + path + '","' + o.hashAlgo + '","' + o.hash + '")';
  }
  s += '],[';
  const inputs = opts.actualInputs ?? drv.inputDrvs;
  first = true;
  for (const p of sortedKeys(inputs)) {
    if (first) first = false; else s += ',';
    s += '("' + p + '",' + atermList(sortedKeys(inputs.get(p)!), raw) + ')';
  }
  s += '],' + atermList(sortedKeys(drv.inputSrcs), raw);
  s += ',"' + drv.system + '",' + atermString(drv.builder) + ',' + atermList(drv.args, atermString) + ',[';
  first = true;
  for (const k of sortedKeys(drv.env)) {
    if (first) first = false; else s += ',';
    const v = mask && drv.outputs.has(k) ? '' : drv.env.get(k)!;
    s += '(' + atermString(k) + ',' + atermString(v) + ')';
  }
  return s + '])';
}

// ---- parsing ---------------------------------------------------------------------------------

/**
 * Parses a .drv file strictly: exactly the grammar Nix writes, escapes limited to the five Nix
 * produces, every list in canonical (sorted, duplicate-free) order, nothing after the end.
 * `where` (e.g. the .drv path) is named in errors.
 */
export function parseDerivation(text: string, name: string, where = ''): Derivation {
  return new AtermParser(text, where).derivation(name);
}

class AtermParser {
  private i = 0;
  constructor(private readonly s: string, private readonly where: string) {}

  private fail(msg: string, at = this.i): never {
    throw new DerivationParseError(msg, at, this.where);
  }

  private expect(lit: string): void {
    if (!this.s.startsWith(lit, this.i)) {
      const got = this.i >= this.s.length ? 'end of input' : `'${this.s.slice(this.i, this.i + lit.length)}'`;
      this.fail(`expected '${lit}', found ${got}`);
    }
    this.i += lit.length;
  }

  /** A quoted string; `raw` fields (paths, names, hashes, system) are written unescaped by Nix. */
  private string(raw = false): string {
    this.expect('"');
    let out = '';
    let start = this.i;
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail('unterminated string');
      if (c === 0x22) break;
      if (c === 0x0a || c === 0x0d || c === 0x09) this.fail(`unescaped ${c === 0x0a ? 'newline' : c === 0x0d ? 'carriage return' : 'tab'} in string`);
      if (c === 0x5c) {
        if (raw) this.fail('escape sequence in a field Nix writes unescaped');
        out += this.s.slice(start, this.i);
        const e = this.s[this.i + 1];
        if (e === 'n') out += '\n';
        else if (e === 'r') out += '\r';
        else if (e === 't') out += '\t';
        else if (e === '"' || e === '\\') out += e;
        else this.fail(`invalid escape '\\${e ?? ''}' in string`);
        this.i += 2;
        start = this.i;
        continue;
      }
      this.i++;
    }
    out += this.s.slice(start, this.i);
    this.i++;
    return out;
  }

  private path(): string {
    const at = this.i;
    const p = this.string(true);
    if (p === '' || p[0] !== '/') this.fail(`bad path '${p}' in derivation`, at);
    return p;
  }

  /** Parses `item (',' item)* ']'` after an already consumed '['. */
  private list<T>(item: () => T): T[] {
    const out: T[] = [];
    if (this.s[this.i] === ']') { this.i++; return out; }
    for (;;) {
      out.push(item());
      const c = this.s[this.i];
      if (c === ',') { this.i++; continue; }
      if (c === ']') { this.i++; return out; }
      this.fail(`expected ',' or ']', found ${c === undefined ? 'end of input' : `'${c}'`}`);
    }
  }

  private sortedUnique<T>(entries: { key: string; at: number; value: T }[], what: string): Map<string, T> {
    const m = new Map<string, T>();
    let prev: string | null = null;
    for (const e of entries) {
      if (prev !== null) {
        const c = compareBytes(prev, e.key);
        if (c === 0) this.fail(`duplicate ${what} '${e.key}'`, e.at);
        if (c > 0) this.fail(`${what} '${e.key}' out of order (after '${prev}')`, e.at);
      }
      m.set(e.key, e.value);
      prev = e.key;
    }
    return m;
  }

  private stringSet(what: string, paths: boolean): Set<string> {
    const items = this.list(() => {
      const at = this.i;
      return { key: paths ? this.path() : this.string(true), at, value: null };
    });
    return new Set(this.sortedUnique(items, what).keys());
  }

  derivation(name: string): Derivation {
    this.expect('Derive([');
    const outs = this.list(() => {
      const at = this.i;
      this.expect('(');
      const key = this.string(true);
      this.expect(',');
      const pathAt = this.i;
      const path = this.string(true);
      this.expect(',');
      const hashAlgo = this.string(true);
      this.expect(',');
      const hash = this.string(true);
      this.expect(')');
      const o = { path, hashAlgo, hash };
      const kind = outputKind(o);
      if ((kind === 'inputAddressed' || kind === 'fixed') && path[0] !== '/') this.fail(`bad path '${path}' in derivation`, pathAt);
      if ((kind === 'floating' || kind === 'impure') && path !== '') this.fail(`output '${key}' of a floating derivation must have an empty path`, pathAt);
      return { key, at, value: o };
    });
    const outputs = this.sortedUnique(outs, 'output');
    this.expect(',[');
    const drvs = this.list(() => {
      const at = this.i;
      this.expect('(');
      const p = this.path();
      this.expect(',[');
      const names = this.stringSet('output name', false);
      this.expect(')');
      return { key: p, at, value: names };
    });
    const inputDrvs = this.sortedUnique(drvs, 'input derivation');
    this.expect(',[');
    const inputSrcs = this.stringSet('input source', true);
    this.expect(',');
    const system = this.string(true);
    this.expect(',');
    const builder = this.string();
    this.expect(',[');
    const args = this.list(() => this.string());
    this.expect(',[');
    const envs = this.list(() => {
      const at = this.i;
      this.expect('(');
      const k = this.string();
      this.expect(',');
      const v = this.string();
      this.expect(')');
      return { key: k, at, value: v };
    });
    const env = this.sortedUnique(envs, 'environment variable');
    this.expect(')');
    if (this.i !== this.s.length) this.fail('trailing data after the derivation');
    return { name, outputs, inputDrvs, inputSrcs, system, builder, args, env };
  }
}

/** The derivation name of a .drv store path (`/nix/store/<hash>-<name>.drv`). */
export function drvNameFromPath(drvPath: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf('/') + 1);
  if (!base.endsWith('.drv') || base.length < 38) throw new InvalidInputError('derivation path', `'${drvPath}' is not a .drv store path`, { path: drvPath });
  return base.slice(33, -4);
}
