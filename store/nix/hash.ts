// Nix hashes (md5, sha1, sha256, sha512): parsing every form Nix 2.8 accepts and printing
// every form it prints, plus hashing of bytes, files and streams with node:crypto.
import * as cryptoModule from 'node:crypto';
import { createHash, type Hash as CryptoHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import { base32Len, decodeBase32, encodeBase32 } from './base32.js';

export type HashAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512';
export interface NixHash { algo: HashAlgo; digest: Buffer }
export type HashFormat = 'base16' | 'base32' | 'base64' | 'sri';

export const HASH_SIZES: Readonly<Record<HashAlgo, number>> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };
export const HASH_ALGOS: readonly HashAlgo[] = ['md5', 'sha1', 'sha256', 'sha512'];

/** A hash string that cannot be parsed (code E_INVALID_INPUT). */
export class BadHashError extends InvalidInputError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('hash', message, data);
  }
}

export function isHashAlgo(s: string): s is HashAlgo {
  return s === 'md5' || s === 'sha1' || s === 'sha256' || s === 'sha512';
}

export function parseHashAlgo(s: string): HashAlgo {
  if (!isHashAlgo(s)) throw new BadHashError(`unknown hash algorithm '${s}'`, { algo: s });
  return s;
}

export function base16Len(algo: HashAlgo): number { return HASH_SIZES[algo] * 2; }
export function nixBase32Len(algo: HashAlgo): number { return base32Len(HASH_SIZES[algo]); }
/** As Nix computes it: ((4 * size / 3) + 3) & ~3. */
export function base64Len(algo: HashAlgo): number { return (Math.floor((4 * HASH_SIZES[algo]) / 3) + 3) & ~3; }

// ---- parsing ---------------------------------------------------------------------------------

/** Splits `sha256:…` or `sha256-…` (SRI) off a hash string, as Nix's getParsedTypeAndSRI. */
function splitAlgo(s: string): { algo: HashAlgo | null; rest: string; sri: boolean } {
  const colon = s.indexOf(':');
  if (colon >= 0) return { algo: parseHashAlgo(s.slice(0, colon)), rest: s.slice(colon + 1), sri: false };
  const dash = s.indexOf('-');
  if (dash >= 0) return { algo: parseHashAlgo(s.slice(0, dash)), rest: s.slice(dash + 1), sri: true };
  return { algo: null, rest: s, sri: false };
}

/**
 * Any form Nix's Hash::parseAny accepts: `<algo>:<base16|base32|base64>`, SRI `<algo>-<base64>`,
 * or a bare base16/base32/base64 string when `algo` is given. If both the string and `algo`
 * name an algorithm they must agree.
 */
export function parseHash(s: string, algo?: HashAlgo): NixHash {
  const split = splitAlgo(s);
  if (!split.algo && !algo) throw new BadHashError(`hash '${s}' does not include a type, nor is the type otherwise known from context`, { input: s });
  if (split.algo && algo && split.algo !== algo) throw new BadHashError(`hash '${s}' should have type '${algo}'`, { input: s, expected: algo });
  return decodeHashBody(split.rest, (split.algo ?? algo)!, split.sri);
}

/** A hash that must name its algorithm (`sha256:…` or SRI), as Nix's parseAnyPrefixed. */
export function parseHashPrefixed(s: string): NixHash {
  const split = splitAlgo(s);
  if (!split.algo) throw new BadHashError(`hash '${s}' does not include a type`, { input: s });
  return decodeHashBody(split.rest, split.algo, split.sri);
}

/** An SRI hash `<algo>-<base64>`. */
export function parseHashSRI(s: string): NixHash {
  const dash = s.indexOf('-');
  if (dash < 0) throw new BadHashError(`hash '${s}' is not SRI`, { input: s });
  return decodeHashBody(s.slice(dash + 1), parseHashAlgo(s.slice(0, dash)), true);
}

/** A bare base16/base32/base64 hash of a known algorithm (as in content addresses). */
export function parseHashUnprefixed(s: string, algo: HashAlgo): NixHash {
  return decodeHashBody(s, algo, false);
}

/** The encoding is chosen by length, as Nix does: base16, then nixbase32, then base64 (always for SRI). */
function decodeHashBody(rest: string, algo: HashAlgo, sri: boolean): NixHash {
  const size = HASH_SIZES[algo];
  if (!sri && rest.length === size * 2) {
    if (!/^[0-9a-fA-F]*$/.test(rest)) {
      const bad = rest.search(/[^0-9a-fA-F]/);
      throw new BadHashError(`invalid base-16 hash '${rest}': bad character '${rest[bad]}' at position ${bad}`, { input: rest, position: bad });
    }
    return { algo, digest: Buffer.from(rest, 'hex') };
  }
  if (!sri && rest.length === base32Len(size)) {
    try {
      return { algo, digest: decodeBase32(rest, size) };
    } catch (e) {
      throw new BadHashError(`invalid base-32 hash '${rest}': ${(e as Error).message.replace(/^nixbase32 string: /, '')}`, { input: rest });
    }
  }
  if (sri || rest.length === base64Len(algo)) {
    const d = decodeBase64Nix(rest);
    if (d.length !== size) throw new BadHashError(`invalid ${sri ? 'SRI' : 'base-64'} hash '${rest}' (${d.length} bytes, expected ${size} for ${algo})`, { input: rest });
    return { algo, digest: d };
  }
  throw new BadHashError(`hash '${rest}' has wrong length for hash type '${algo}'`, { input: rest, algo });
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_DECODE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_DECODE[B64.charCodeAt(i)] = i;

/** Nix's base64Decode: stops at '=', skips newlines, rejects any other non-alphabet character. */
function decodeBase64Nix(s: string): Buffer {
  const out: number[] = [];
  let d = 0;
  let bits = 0;
  for (let k = 0; k < s.length; k++) {
    const ch = s[k]!;
    if (ch === '=') break;
    if (ch === '\n') continue;
    const code = s.charCodeAt(k);
    const digit = code < 256 ? B64_DECODE[code]! : -1;
    if (digit < 0) throw new BadHashError(`invalid character '${ch}' at position ${k} in base-64 hash '${s}'`, { input: s, position: k });
    d = ((d << 6) | digit) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      out.push((d >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// ---- printing --------------------------------------------------------------------------------

/** Prints a hash; `includeAlgo` defaults to true for SRI (which always has it) and false otherwise. */
export function formatHash(h: NixHash, format: HashFormat, includeAlgo = format === 'sri'): string {
  const prefix = format === 'sri' ? `${h.algo}-` : includeAlgo ? `${h.algo}:` : '';
  switch (format) {
    case 'base16': return prefix + h.digest.toString('hex');
    case 'base32': return prefix + encodeBase32(h.digest);
    case 'base64':
    case 'sri': return prefix + h.digest.toString('base64');
  }
}

/** Nix's printHash16or32: base16 for md5, nixbase32 otherwise, without the algorithm. */
export function formatHash16or32(h: NixHash): string {
  return formatHash(h, h.algo === 'md5' ? 'base16' : 'base32');
}

export function hashEquals(a: NixHash, b: NixHash): boolean {
  return a.algo === b.algo && a.digest.equals(b.digest);
}

// ---- computing -------------------------------------------------------------------------------

/** XOR-folds a digest to `size` bytes (byte i goes into i mod size), as Nix's compressHash. */
export function compressHash(digest: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < digest.length; i++) out[i % size] ^= digest[i]!;
  return out;
}

export function hashBytes(algo: HashAlgo, data: Uint8Array | string): NixHash {
  return { algo, digest: oneShot(algo, data) };
}

/** sha256 of a string or bytes, raw digest. */
export function sha256(data: Uint8Array | string): Buffer {
  return oneShot('sha256', data);
}

// crypto.hash (Node >= 20.12) skips the Hash object: ~35% less time per small input, and
// instantiation hashes every derivation's ATerm and store path fingerprints several times.
const oneShotHash = (cryptoModule as { hash?: (algo: string, data: Uint8Array | string, enc: 'buffer') => Buffer }).hash;
function oneShot(algo: string, data: Uint8Array | string): Buffer {
  return oneShotHash ? oneShotHash(algo, data, 'buffer') : createHash(algo).update(data).digest();
}

/** Incremental hashing that also counts bytes (Nix's HashSink). */
export class HashSink {
  private readonly h: CryptoHash;
  size = 0;
  constructor(readonly algo: HashAlgo) {
    this.h = createHash(algo);
  }
  update(data: Uint8Array): this {
    this.h.update(data);
    this.size += data.length;
    return this;
  }
  /** Finishes the hash (call once). */
  finish(): NixHash {
    return { algo: this.algo, digest: this.h.digest() };
  }
}

/** Hash and byte count of a stream. */
export async function hashStream(algo: HashAlgo, source: AsyncIterable<Uint8Array>): Promise<{ hash: NixHash; size: number }> {
  const sink = new HashSink(algo);
  for await (const chunk of source) sink.update(chunk);
  return { hash: sink.finish(), size: sink.size };
}

/** Hash of a file's contents (following symlinks, as Nix's readFile does). */
export async function hashFile(algo: HashAlgo, path: string): Promise<NixHash> {
  const fh = await open(path, 'r');
  try {
    const sink = new HashSink(algo);
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      sink.update(buf.subarray(0, bytesRead));
    }
    return sink.finish();
  } finally {
    await fh.close();
  }
}
