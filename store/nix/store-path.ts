// Store paths as Nix 2.8 defines them: `<storeDir>/<32 nixbase32 chars>-<name>`, and the
// computation of store paths from fingerprints (source, text, output:<id>, fixed outputs).
import { InvalidInputError } from '../errors.js';
import { encodeBase32 } from './base32.js';
import { compressHash, formatHash, sha256, type NixHash } from './hash.js';

export const DEFAULT_STORE_DIR = '/nix/store';
/** Length of the hash part (nixbase32 of 20 bytes). */
export const HASH_PART_LEN = 32;
/** Nix 2.8's limit on the name part. */
export const MAX_NAME_LEN = 211;

/** The parts of a store path. */
export interface StorePath { hashPart: string; name: string }

/** A store path (or part of one) that Nix would refuse (code E_INVALID_INPUT). */
export class BadStorePathError extends InvalidInputError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('store path', message, data);
  }
}

const NAME_CHAR = /^[A-Za-z0-9+\-._?=]$/;

/**
 * Checks a store path name the way Nix 2.8 does: non-empty, at most 211 characters, only
 * `[A-Za-z0-9+-._?=]`. (Nix 2.8 accepts a leading '.'; later versions reject '.', '..' and '.-…'.)
 */
export function checkStorePathName(name: string, path: string = name): void {
  if (name.length === 0) throw new BadStorePathError(`store path '${path}' has an empty name`, { path });
  if (name.length > MAX_NAME_LEN) throw new BadStorePathError(`store path '${path}' has a name longer than ${MAX_NAME_LEN} characters`, { path, length: name.length });
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (!NAME_CHAR.test(c)) throw new BadStorePathError(`store path '${path}' contains illegal character '${c}' at position ${i} of its name`, { path, position: i, character: c });
  }
}

/** Parses `<hash>-<name>` (a store path without its directory). */
export function parseStorePathBaseName(baseName: string): StorePath {
  if (baseName.length < HASH_PART_LEN + 1) throw new BadStorePathError(`'${baseName}' is too short to be a valid store path`, { path: baseName });
  for (let i = 0; i < HASH_PART_LEN; i++) {
    const c = baseName[i]!;
    if (c === 'e' || c === 'o' || c === 'u' || c === 't' || !/^[0-9a-z]$/.test(c)) {
      throw new BadStorePathError(`store path '${baseName}' contains illegal base-32 character '${c}' at position ${i} of its hash part`, { path: baseName, position: i, character: c });
    }
  }
  if (baseName[HASH_PART_LEN] !== '-') throw new BadStorePathError(`store path '${baseName}' has no '-' after its hash part`, { path: baseName });
  const name = baseName.slice(HASH_PART_LEN + 1);
  checkStorePathName(name, baseName);
  return { hashPart: baseName.slice(0, HASH_PART_LEN), name };
}

/** Parses a full store path `<storeDir>/<hash>-<name>` (no trailing slash, nothing below it). */
export function parseStorePath(path: string, storeDir = DEFAULT_STORE_DIR): StorePath {
  if (!path.startsWith(storeDir + '/')) throw new BadStorePathError(`path '${path}' is not in the Nix store ${storeDir}`, { path });
  const base = path.slice(storeDir.length + 1);
  if (base.includes('/')) throw new BadStorePathError(`path '${path}' is not a store path but a path inside one (or has a trailing '/')`, { path });
  return parseStorePathBaseName(base);
}

/** The store path, or null (never throws). */
export function maybeParseStorePath(path: string, storeDir = DEFAULT_STORE_DIR): StorePath | null {
  try { return parseStorePath(path, storeDir); } catch { return null; }
}

export function isStorePath(path: string, storeDir = DEFAULT_STORE_DIR): boolean {
  return maybeParseStorePath(path, storeDir) !== null;
}

/** Splits a path inside the store into its store path and the rest (`''` or starting with '/'). */
export function splitStorePath(path: string, storeDir = DEFAULT_STORE_DIR): { storePath: StorePath; rest: string } {
  if (!path.startsWith(storeDir + '/')) throw new BadStorePathError(`path '${path}' is not in the Nix store ${storeDir}`, { path });
  const slash = path.indexOf('/', storeDir.length + 1);
  const end = slash < 0 ? path.length : slash;
  return { storePath: parseStorePathBaseName(path.slice(storeDir.length + 1, end)), rest: path.slice(end) };
}

export function printStorePath(p: StorePath, storeDir = DEFAULT_STORE_DIR): string {
  return `${storeDir}/${p.hashPart}-${p.name}`;
}

/** The hash part of a full store path (validated). */
export function storePathHashPart(path: string, storeDir = DEFAULT_STORE_DIR): string {
  return parseStorePath(path, storeDir).hashPart;
}

// ---- computing store paths ---------------------------------------------------------------------

/**
 * Nix's makeStorePath: the path whose hash part is the 160-bit XOR-fold of
 * sha256(`<type>:sha256:<innerHashHex>:<storeDir>:<name>`).
 */
export function makeStorePath(type: string, innerHashHex: string, name: string, storeDir = DEFAULT_STORE_DIR): string {
  checkStorePathName(name);
  const fingerprint = `${type}:sha256:${innerHashHex}:${storeDir}:${name}`;
  const hashPart = encodeBase32(compressHash(sha256(fingerprint), 20));
  return `${storeDir}/${hashPart}-${name}`;
}

/** `<type>[:<ref>…][:self]`, references sorted as Nix's StorePathSet sorts them (by base name). */
export function makeType(type: string, references: readonly string[] = [], hasSelfReference = false, storeDir = DEFAULT_STORE_DIR): string {
  const refs = [...new Set(references)];
  for (const r of refs) parseStorePath(r, storeDir);
  refs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return [type, ...refs, ...(hasSelfReference ? ['self'] : [])].join(':');
}

export type FileIngestionMethod = 'flat' | 'recursive';

/** Path of a fixed-output (content-addressed) object; only recursive sha256 may have references. */
export function makeFixedOutputPath(
  method: FileIngestionMethod, hash: NixHash, name: string,
  references: readonly string[] = [], hasSelfReference = false, storeDir = DEFAULT_STORE_DIR,
): string {
  if (hash.algo === 'sha256' && method === 'recursive') {
    return makeStorePath(makeType('source', references, hasSelfReference, storeDir), hash.digest.toString('hex'), name, storeDir);
  }
  if (references.length > 0 || hasSelfReference) {
    throw new BadStorePathError(`a fixed-output path with ${method} ${hash.algo} hashing cannot have references (only recursive sha256 can)`, { name });
  }
  const inner = sha256(`fixed:out:${method === 'recursive' ? 'r:' : ''}${formatHash(hash, 'base16', true)}:`);
  return makeStorePath('output:out', inner.toString('hex'), name, storeDir);
}

/** Path of a text object (builtins.toFile, .drv files): `text` fingerprint over sha256 of the contents. */
export function makeTextPath(name: string, contentsSha256: Buffer | NixHash, references: readonly string[] = [], storeDir = DEFAULT_STORE_DIR): string {
  const digest = Buffer.isBuffer(contentsSha256) ? contentsSha256 : contentsSha256.digest;
  if (!Buffer.isBuffer(contentsSha256) && contentsSha256.algo !== 'sha256') throw new BadStorePathError(`a text path needs a sha256 hash, not ${contentsSha256.algo}`, { name });
  if (digest.length !== 32) throw new BadStorePathError(`a text path needs a 32-byte sha256 digest, got ${digest.length} bytes`, { name });
  return makeStorePath(makeType('text', references, false, storeDir), digest.toString('hex'), name, storeDir);
}

/** Path of a source object (`nix-store --add`, path literals): `source` fingerprint over the NAR sha256. */
export function makeSourcePath(name: string, narSha256: Buffer, references: readonly string[] = [], hasSelfReference = false, storeDir = DEFAULT_STORE_DIR): string {
  return makeStorePath(makeType('source', references, hasSelfReference, storeDir), narSha256.toString('hex'), name, storeDir);
}

/** Nix's outputPathName: `<drvName>` for `out`, `<drvName>-<output>` otherwise. */
export function outputPathName(drvName: string, outputName: string): string {
  return outputName === 'out' ? drvName : `${drvName}-${outputName}`;
}

/** Path of a derivation output from its hashDerivationModulo (hex sha256): `output:<id>` fingerprint. */
export function makeOutputPath(outputName: string, drvHashHex: string, drvName: string, storeDir = DEFAULT_STORE_DIR): string {
  return makeStorePath(`output:${outputName}`, drvHashHex, outputPathName(drvName, outputName), storeDir);
}
