// sha256 hashes as they appear in narinfo files and signature fingerprints: Nix writes
// `sha256:<nixbase32>` and reads any prefixed form (base16, nixbase32, base64, SRI).
import { InvalidInputError } from '../errors.js';
import { formatHash, parseHashPrefixed } from '../nix/hash.js';

/** The 32 raw bytes of a prefixed sha256 hash; throws naming `what` (e.g. "NarHash of <url>"). */
export function parseSha256(text: string, what: string): Buffer {
  let h;
  try {
    h = parseHashPrefixed(text);
  } catch (err) {
    throw new InvalidInputError(what, `'${text}' is not a valid hash: ${(err as Error).message}`);
  }
  if (h.algo !== 'sha256') throw new InvalidInputError(what, `'${text}' is a ${h.algo} hash, sha256 expected`);
  return h.digest;
}

/** `sha256:<nixbase32>`, the form Nix writes into narinfo files and fingerprints. */
export function formatSha256(bytes: Buffer): string {
  return formatHash({ algo: 'sha256', digest: bytes }, 'base32', true);
}
