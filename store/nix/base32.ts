// Nix's base32 ("nixbase32"): alphabet without e, o, u, t; the last character of the string
// carries the lowest 5 bits of byte 0 (the string is written most significant group first).
import { InvalidInputError } from '../errors.js';

export const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

const DECODE = new Int8Array(256).fill(-1);
for (let i = 0; i < 32; i++) DECODE[NIX_BASE32_ALPHABET.charCodeAt(i)] = i;

/** Length of the nixbase32 encoding of `bytes` bytes (32 for 20 bytes, 52 for 32). */
export function base32Len(bytes: number): number {
  return bytes === 0 ? 0 : Math.floor((bytes * 8 - 1) / 5) + 1;
}

/** Number of bytes a nixbase32 string of `chars` characters decodes to, or null if no byte count encodes to that length. */
export function base32DecodedLen(chars: number): number | null {
  const bytes = Math.floor((chars * 5) / 8);
  return base32Len(bytes) === chars ? bytes : null;
}

/** Whether every character of `s` is in the nixbase32 alphabet. */
export function isBase32(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || DECODE[c]! < 0) return false;
  }
  return true;
}

const ALPHABET_CODES = Uint8Array.from(NIX_BASE32_ALPHABET, (c) => c.charCodeAt(0));
/** Characters are written here, then read out as one string (a string built by += was 2× slower). */
const scratch = Buffer.allocUnsafe(256);

export function encodeBase32(data: Uint8Array): string {
  const len = base32Len(data.length);
  const out = len <= scratch.length ? scratch : Buffer.allocUnsafe(len);
  for (let n = len - 1, k = 0; n >= 0; n--, k++) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = (data[i]! >> j) | (i >= data.length - 1 ? 0 : data[i + 1]! << (8 - j));
    out[k] = ALPHABET_CODES[c & 0x1f]!;
  }
  return out.toString('latin1', 0, len);
}

/**
 * Decodes nixbase32. Throws InvalidInputError naming the bad character and its position, a length
 * that no byte string encodes to, or set bits beyond the last byte (as Nix rejects them).
 * `size`, if given, is the expected number of bytes.
 */
export function decodeBase32(s: string, size?: number): Buffer {
  const bytes = size ?? base32DecodedLen(s.length);
  if (bytes === null || base32Len(bytes) !== s.length) {
    throw new InvalidInputError('nixbase32 string', `'${s}' has invalid length ${s.length}${size !== undefined ? ` (expected ${base32Len(size)} characters for ${size} bytes)` : ''}`, { input: s });
  }
  const out = Buffer.alloc(bytes);
  for (let n = 0; n < s.length; n++) {
    const pos = s.length - n - 1;
    const code = s.charCodeAt(pos);
    const digit = code < 256 ? DECODE[code]! : -1;
    if (digit < 0) {
      throw new InvalidInputError('nixbase32 string', `invalid character '${s[pos]}' at position ${pos} in '${s}'`, { input: s, position: pos, character: s[pos] });
    }
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i < bytes - 1) out[i + 1] |= carry;
    else if (carry) {
      throw new InvalidInputError('nixbase32 string', `'${s}' has non-zero bits beyond its ${bytes} bytes (character '${s[pos]}' at position ${pos})`, { input: s, position: pos });
    }
  }
  return out;
}
