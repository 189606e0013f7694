// Canonical directory encoding: msgpack of fixed-order tuples (no maps, no records), so one
// tree always has one encoding and one BLAKE3 digest. Written by directory-encode.ts (msgpackr);
// read here with the store's own msgpack reader, so readers need not load msgpackr.
import { CorruptionError, InvalidInputError } from '../errors.js';
import { blake3, blake3Matches, DIGEST_SIZE } from '../hash/blake3.js';
import { readMsgpack } from './msgpack-read.js';
import { compareNames, type Digest, type Directory } from './nodes.js';

export function directoryDigest(encoded: Uint8Array): Digest {
  return blake3(encoded);
}

/** Decodes and validates; `digest` (when given) must match the bytes. */
export function decodeDirectory(bytes: Buffer, digest?: Digest): Directory {
  if (digest && !blake3Matches(bytes, digest)) {
    throw new CorruptionError(`directory ${digest.toString('hex')} does not match its digest`, { digest: digest.toString('hex') });
  }
  let raw: unknown;
  try {
    raw = readMsgpack(bytes);
  } catch (err) {
    throw new CorruptionError(`directory encoding is not valid msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw) || raw.length !== 3 || !raw.every(Array.isArray)) throw new CorruptionError('directory encoding is not a 3-tuple of lists');
  const [dirs, files, links] = raw as unknown[][];
  const d: Directory = {
    directories: dirs!.map((t) => {
      const [name, dg, size] = tupleOf(t, 3);
      return { name: name as string, digest: asDigest(dg), size: size as number };
    }),
    files: files!.map((t) => {
      const [name, dg, size, exec] = tupleOf(t, 4);
      return { name: name as string, digest: asDigest(dg), size: size as number, executable: exec as boolean };
    }),
    symlinks: links!.map((t) => {
      const [name, target] = tupleOf(t, 2);
      return { name: name as string, target: target as string };
    }),
  };
  try {
    validateDirectory(d);
  } catch (err) {
    throw new CorruptionError(`stored directory is invalid: ${(err as Error).message}`);
  }
  return d;
}

function tupleOf(t: unknown, n: number): unknown[] {
  if (!Array.isArray(t) || t.length !== n) throw new CorruptionError(`directory entry is not a ${n}-tuple`);
  return t;
}

function asDigest(v: unknown): Buffer {
  if (v instanceof Buffer) return v;
  if (!(v instanceof Uint8Array)) throw new CorruptionError('directory entry digest is not binary');
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Enforces every rule of DESIGN.md; throws InvalidInputError naming the entry. */
export function validateDirectory(d: Directory): void {
  // Each list is strictly sorted (so unique); names shared between lists need a set only when
  // more than one list has entries.
  const kinds = (d.directories.length ? 1 : 0) + (d.files.length ? 1 : 0) + (d.symlinks.length ? 1 : 0);
  const seen = kinds > 1 ? new Set<string>() : null;
  const check = (list: { name: string }[], kind: string) => {
    let prev: string | null = null;
    for (const e of list) {
      validateName(e.name, kind);
      if (prev !== null && compareNames(prev, e.name) >= 0) throw new InvalidInputError('directory', `${kind} '${e.name}' is not sorted after '${prev}'`);
      if (seen) {
        if (seen.has(e.name)) throw new InvalidInputError('directory', `duplicate name '${e.name}'`);
        seen.add(e.name);
      }
      prev = e.name;
    }
  };
  check(d.directories, 'directory');
  check(d.files, 'file');
  check(d.symlinks, 'symlink');
  for (const e of d.directories) checkSized(e);
  for (const e of d.files) {
    checkSized(e);
    if (typeof e.executable !== 'boolean') throw new InvalidInputError('directory', `file '${e.name}' has no executable flag`);
  }
  for (const s of d.symlinks) validateSymlinkTarget(s.target, s.name);
}

function checkSized(e: { name: string; digest: Digest; size: number }): void {
  if (!(e.digest instanceof Uint8Array) || e.digest.length !== DIGEST_SIZE) throw new InvalidInputError('directory', `entry '${e.name}' has a digest of the wrong size`);
  if (!Number.isSafeInteger(e.size) || e.size < 0) throw new InvalidInputError('directory', `entry '${e.name}' has an invalid size ${e.size}`);
}

export function validateName(name: string, kind = 'entry'): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidInputError('name', `${kind} name is empty`);
  if (name === '.' || name === '..') throw new InvalidInputError('name', `${kind} name '${name}' is not allowed`);
  if (name.includes('/')) throw new InvalidInputError('name', `${kind} name '${name}' contains '/'`);
  if (name.includes('\0')) throw new InvalidInputError('name', `${kind} name ${JSON.stringify(name)} contains NUL`);
  // A UTF-16 unit is at most 3 UTF-8 bytes: only long names need counting.
  if (name.length > 85 && Buffer.byteLength(name, 'utf8') > 255) throw new InvalidInputError('name', `${kind} name '${name.slice(0, 32)}…' is longer than 255 bytes`);
}

export function validateSymlinkTarget(target: string, name: string): void {
  if (typeof target !== 'string' || target.length === 0) throw new InvalidInputError('symlink', `symlink '${name}' has an empty target`);
  if (target.includes('\0')) throw new InvalidInputError('symlink', `symlink '${name}' target contains NUL`);
  if (Buffer.byteLength(target, 'utf8') > 4095) throw new InvalidInputError('symlink', `symlink '${name}' target is longer than 4095 bytes`);
}
