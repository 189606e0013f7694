// What a store path is, apart from its tree: the part of a PathInfo a narinfo also carries.
// Conversions between narinfo (reference basenames) and PathInfo (full paths), trust checks
// (Nix's checkSignatures / isContentAddressed), and signing.
import { InvalidInputError } from '../errors.js';
import { contentAddressedPath, parseContentAddress } from '../nix/content-address.js';
import type { PathInfo } from '../pathinfo/path-info.js';
import { NIX_STORE_DIR, storePathBaseName, type NarInfo } from './narinfo.js';
import { countValidSignatures, fingerprint, parsePublicKey, signFingerprint, SignatureError, type PublicKey, type SecretKey } from './signing.js';

/** A PathInfo without its tree. */
export type PathMeta = Omit<PathInfo, 'node' | 'registrationTime'>;

export function narInfoToMeta(ni: NarInfo): PathMeta {
  return {
    path: ni.storePath,
    narHash: ni.narHash,
    narSize: ni.narSize,
    references: ni.references.map((r) => `${NIX_STORE_DIR}/${r}`).sort(),
    deriver: ni.deriver ? `${NIX_STORE_DIR}/${ni.deriver}` : null,
    signatures: [...ni.sigs],
    ca: ni.ca,
  };
}

/** The narinfo for a path whose NAR file is at `file.url`. */
export function metaToNarInfo(m: PathMeta, file: { url: string; compression: string; fileHash: Buffer | null; fileSize: number | null }): NarInfo {
  return {
    storePath: m.path,
    url: file.url,
    compression: file.compression,
    fileHash: file.fileHash,
    fileSize: file.fileSize,
    narHash: m.narHash,
    narSize: m.narSize,
    references: m.references.map((r) => storePathBaseName(r, `reference of ${m.path}`)).sort(),
    deriver: m.deriver ? storePathBaseName(m.deriver, `deriver of ${m.path}`) : null,
    sigs: [...new Set(m.signatures)].sort(),
    ca: m.ca,
  };
}

/** Whether the path is what its content address claims (its store path follows from `ca`), as Nix's isContentAddressed. */
export function isContentAddressed(m: PathMeta): boolean {
  if (!m.ca) return false;
  let ca;
  try {
    ca = parseContentAddress(m.ca);
  } catch {
    return false;
  }
  const base = storePathBaseName(m.path);
  const name = base.slice(33);
  const self = m.references.includes(m.path);
  const others = m.references.filter((r) => r !== m.path);
  try {
    return contentAddressedPath(ca, name, others, self) === m.path;
  } catch {
    return false;
  }
}

export interface TrustPolicy {
  /** Keys by name. */
  keys: ReadonlyMap<string, PublicKey>;
  /** false: accept anything (Nix's require-sigs = false). */
  requireSigs: boolean;
}

/**
 * Why a path would be accepted ('signed', 'content-addressed', 'unchecked'), or a SignatureError
 * saying why not. A content-addressed path needs no signature, but then its contents must
 * match the content address after download (see checkCaContents in nar-verify.ts).
 */
export function checkTrust(m: PathMeta, policy: TrustPolicy, from: string): 'signed' | 'content-addressed' | 'unchecked' | SignatureError {
  if (!policy.requireSigs) return 'unchecked';
  if (countValidSignatures(m, m.signatures, policy.keys) > 0) return 'signed';
  if (isContentAddressed(m)) return 'content-addressed';
  const names = m.signatures.map((s) => s.slice(0, Math.max(0, s.indexOf(':'))));
  const why = m.signatures.length === 0
    ? 'it has no signatures'
    : names.some((n) => policy.keys.has(n))
      ? `its signature by ${names.filter((n) => policy.keys.has(n)).map((n) => `'${n}'`).join(', ')} does not verify (tampered narinfo or wrong key)`
      : `it is signed only by untrusted keys (${names.map((n) => `'${n}'`).join(', ')})`;
  return new SignatureError(`cannot accept '${m.path}' from '${from}': ${why}; trusted keys: ${[...policy.keys.keys()].map((k) => `'${k}'`).join(', ') || 'none'}`, { path: m.path, from });
}

/** The signature of `key` over a path's fingerprint. */
export function signMeta(m: PathMeta, key: SecretKey): string {
  return signFingerprint(key, fingerprint(m));
}

/** `m` with `key`'s signature added (a set, as Nix keeps them; ed25519 signatures are deterministic). */
export function withSignature<T extends PathMeta>(m: T, key: SecretKey): T {
  return addSignature(m, signMeta(m, key));
}

/** `m` with the signature line `sig` added to its set of signatures. */
export function addSignature<T extends PathMeta>(m: T, sig: string): T {
  return { ...m, signatures: [...new Set([...m.signatures, sig])].sort() };
}

export function parseTrustedKeys(texts: Iterable<string>): PublicKey[] {
  const out: PublicKey[] = [];
  // Nix's trusted-public-keys is whitespace separated.
  for (const t of texts) for (const k of t.split(/\s+/)) if (k !== '') out.push(parsePublicKeyChecked(k));
  return out;
}

function parsePublicKeyChecked(k: string): PublicKey {
  try {
    return parsePublicKey(k, 'trusted public key');
  } catch (e) {
    throw new InvalidInputError('trusted public key', `'${k}': ${(e as Error).message}`);
  }
}
