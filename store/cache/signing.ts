// Nix's ed25519 signatures on store paths (libstore/crypto.cc, path-info.cc).
// Keys are `name:base64`: a secret key is libsodium's 64 bytes (seed ‖ public key), a public key
// 32 bytes; a signature is `name:base64(64 bytes)` over the path's fingerprint
// `1;<path>;<narHash sha256:nixbase32>;<narSize>;<comma-separated full reference paths>`.
// node:crypto has ed25519 but takes keys as DER, so raw keys are wrapped in fixed PKCS#8/SPKI prefixes.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { InvalidInputError, TsixError } from '../errors.js';
import { formatSha256 } from './hash-text.js';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SecretKey { name: string; key: KeyObject; publicKey: PublicKey }
export interface PublicKey { name: string; key: KeyObject; raw: Buffer }

/** What a fingerprint is made of (PathInfo and NarInfo both have these, after reference expansion). */
export interface FingerprintInput {
  path: string;
  narHash: Buffer;
  narSize: number;
  /** Full store paths. */
  references: string[];
}

/** A signature that does not verify, or a path without a valid signature where one is required. */
export class SignatureError extends TsixError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_SIGNATURE', message, data);
  }
}

function splitKey(text: string, what: string): { name: string; bytes: Buffer } {
  const s = text.trim();
  const colon = s.indexOf(':');
  if (colon <= 0) throw new InvalidInputError(what, `'${s.slice(0, 40)}' is not of the form NAME:BASE64`);
  const b64 = s.slice(colon + 1);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new InvalidInputError(what, `the key of '${s.slice(0, colon)}' is not valid base64`);
  return { name: s.slice(0, colon), bytes: Buffer.from(b64, 'base64') };
}

function publicKeyFromRaw(name: string, raw: Buffer): PublicKey {
  return { name, raw, key: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }) };
}

/** Parses a secret key file's contents (`name:base64` of 64 bytes, as nix-store --generate-binary-cache-key writes). */
export function parseSecretKey(text: string, what = 'secret key'): SecretKey {
  const { name, bytes } = splitKey(text, what);
  if (bytes.length !== 64) throw new InvalidInputError(what, `key '${name}' has ${bytes.length} bytes, a secret key has 64`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, bytes.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
  const derived = publicKeyRawOf(key);
  if (!derived.equals(bytes.subarray(32))) throw new InvalidInputError(what, `key '${name}': its public half does not belong to its seed`);
  return { name, key, publicKey: publicKeyFromRaw(name, derived) };
}

/** Parses a public key (`name:base64` of 32 bytes). */
export function parsePublicKey(text: string, what = 'public key'): PublicKey {
  const { name, bytes } = splitKey(text, what);
  if (bytes.length !== 32) throw new InvalidInputError(what, `key '${name}' has ${bytes.length} bytes, a public key has 32`);
  return publicKeyFromRaw(name, bytes);
}

function publicKeyRawOf(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

/** A new key pair as the two file contents Nix uses. */
export function generateKeyPair(name: string): { secret: string; public: string } {
  if (name === '' || name.includes(':')) throw new InvalidInputError('key name', `'${name}' must be non-empty and contain no ':'`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return { secret: `${name}:${Buffer.concat([seed, pub]).toString('base64')}`, public: `${name}:${pub.toString('base64')}` };
}

export function formatPublicKey(key: PublicKey): string {
  return `${key.name}:${key.raw.toString('base64')}`;
}

/** The string Nix signs for a store path. */
export function fingerprint(info: FingerprintInput): string {
  if (info.narSize === 0) throw new InvalidInputError('fingerprint', `cannot calculate the fingerprint of '${info.path}' because its NAR size is not known`);
  return `1;${info.path};${formatSha256(info.narHash)};${info.narSize};${[...info.references].sort().join(',')}`;
}

/** `name:base64sig` over a fingerprint. */
export function signFingerprint(key: SecretKey, fp: string): string {
  return `${key.name}:${sign(null, Buffer.from(fp, 'utf8'), key.key).toString('base64')}`;
}

/** Whether `sig` (`name:base64`) is a valid signature of `fp` by one of `keys` (matched by name, as Nix does). */
export function verifySignature(sig: string, fp: string, keys: ReadonlyMap<string, PublicKey>): boolean {
  const colon = sig.indexOf(':');
  if (colon < 0) return false;
  const key = keys.get(sig.slice(0, colon));
  if (!key) return false;
  const raw = Buffer.from(sig.slice(colon + 1), 'base64');
  if (raw.length !== 64) return false;
  return verify(null, Buffer.from(fp, 'utf8'), key.key, raw);
}

/** Keys by name (the last one given wins for a duplicate name). */
export function keyMap(keys: Iterable<PublicKey>): Map<string, PublicKey> {
  const m = new Map<string, PublicKey>();
  for (const k of keys) m.set(k.name, k);
  return m;
}

/** How many of `sigs` verify `info` against `keys` (Nix's checkSignatures for non-CA paths). */
export function countValidSignatures(info: FingerprintInput, sigs: Iterable<string>, keys: ReadonlyMap<string, PublicKey>): number {
  const fp = fingerprint(info);
  let n = 0;
  for (const s of new Set(sigs)) if (verifySignature(s, fp, keys)) n++;
  return n;
}
