// Content addresses as Nix 2.8 renders them in path info and narinfo:
// `text:sha256:<base32>`, `fixed:<algo>:<base32>` (flat), `fixed:r:<algo>:<base32>` (recursive).
import { InvalidInputError } from '../errors.js';
import { formatHash, parseHashAlgo, parseHashUnprefixed, type NixHash } from './hash.js';
import { DEFAULT_STORE_DIR, makeFixedOutputPath, makeTextPath, type FileIngestionMethod } from './store-path.js';

export type ContentAddress =
  | { type: 'text'; hash: NixHash }
  | { type: 'fixed'; method: FileIngestionMethod; hash: NixHash };

function bad(s: string, why: string): InvalidInputError {
  return new InvalidInputError('content address', `'${s}': ${why}`, { input: s });
}

/** Parses a content address; the hash may be base16, nixbase32 or base64 (as Nix accepts). */
export function parseContentAddress(s: string): ContentAddress {
  const colon = s.indexOf(':');
  if (colon < 0) throw bad(s, "not in the form '<prefix>:<rest>'");
  const prefix = s.slice(0, colon);
  let rest = s.slice(colon + 1);
  let method: FileIngestionMethod = 'flat';
  if (prefix === 'fixed' && rest.startsWith('r:')) { method = 'recursive'; rest = rest.slice(2); }
  else if (prefix !== 'text' && prefix !== 'fixed') throw bad(s, `prefix '${prefix}' is not 'text' or 'fixed'`);
  const c2 = rest.indexOf(':');
  if (c2 < 0) throw bad(s, "hash must be in the form '<algo>:<hash>'");
  const algo = parseHashAlgo(rest.slice(0, c2));
  if (prefix === 'text' && algo !== 'sha256') throw bad(s, `text content address hash should use sha256, but instead uses ${algo}`);
  const hash = parseHashUnprefixed(rest.slice(c2 + 1), algo);
  return prefix === 'text' ? { type: 'text', hash } : { type: 'fixed', method, hash };
}

export function formatContentAddress(ca: ContentAddress): string {
  if (ca.type === 'text') return `text:${formatHash(ca.hash, 'base32', true)}`;
  return `fixed:${ca.method === 'recursive' ? 'r:' : ''}${formatHash(ca.hash, 'base32', true)}`;
}

/** The store path a content address determines. */
export function contentAddressedPath(ca: ContentAddress, name: string, references: readonly string[] = [], hasSelfReference = false, storeDir = DEFAULT_STORE_DIR): string {
  if (ca.type === 'text') return makeTextPath(name, ca.hash, references, storeDir);
  return makeFixedOutputPath(ca.method, ca.hash, name, references, hasSelfReference, storeDir);
}
