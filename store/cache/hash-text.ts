// sha256 hashes as they appear in narinfo files: `sha256:<nixbase32>` is what Nix writes; when
// reading, Nix accepts any prefixed encoding (base16, nixbase32, base64) and SRI `sha256-<b64>`.
// Kept local to the cache code so narinfo parsing depends on nothing else in progress.
import { InvalidInputError } from '../errors.js';

const ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/** Nix's base32: least significant 5-bit group last in the string, alphabet without e/o/u/t. */
export function toNixBase32(bytes: Uint8Array): string {
  const len = Math.ceil((bytes.length * 8) / 5);
  let out = '';
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = ((bytes[i]! >> j) | (i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0)) & 0x1f;
    out += ALPHABET[c];
  }
  return out;
}

/** Inverse of toNixBase32 for a known byte length; null if not valid nixbase32 of that length. */
export function fromNixBase32(s: string, size: number): Buffer | null {
  if (s.length !== Math.ceil((size * 8) / 5)) return null;
  const out = Buffer.alloc(size);
  for (let n = 0; n < s.length; n++) {
    const code = s.charCodeAt(s.length - n - 1);
    const digit = code < 128 ? VALUE[code]! : -1;
    if (digit < 0) return null;
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1] |= carry;
    else if (carry) return null;
  }
  return out;
}

/** The 32 raw bytes of a sha256 written as `sha256:<base16|base32|base64>` or `sha256-<base64>`; throws naming `what`. */
export function parseSha256(text: string, what: string): Buffer {
  let body: string;
  if (text.startsWith('sha256:')) body = text.slice(7);
  else if (text.startsWith('sha256-')) body = text.slice(7);
  else throw new InvalidInputError(what, `'${text}' is not a sha256 hash (expected 'sha256:…')`);
  let bytes: Buffer | null = null;
  if (body.length === 64 && /^[0-9a-fA-F]+$/.test(body)) bytes = Buffer.from(body, 'hex');
  else if (body.length === 52) bytes = fromNixBase32(body, 32);
  else if (body.length === 44 && /^[A-Za-z0-9+/]{43}=$/.test(body)) bytes = Buffer.from(body, 'base64');
  if (!bytes || bytes.length !== 32) throw new InvalidInputError(what, `'${text}' is not a valid sha256 hash`);
  return bytes;
}

/** `sha256:<nixbase32>`, the form Nix writes into narinfo files and signature fingerprints. */
export function formatSha256(bytes: Uint8Array): string {
  return 'sha256:' + toNixBase32(bytes);
}
