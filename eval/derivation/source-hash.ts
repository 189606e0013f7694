// Hashing a source tree synchronously (evaluation needs the store path at once; the tree is
// ingested into the castore later, when the session is flushed). NAR framing as in nar-format.ts.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { TsixError } from '../../store/errors.js';
import { narLength, narPadding, narString, NAR_TOKENS } from '../../store/nix/nar-format.js';

export type SourceFileType = 'regular' | 'directory' | 'symlink' | 'unknown';
/** Nix's PathFilter with the type string builtins.path/filterSource pass: keep the entry if true. */
export type SourceFilter = (absPath: string, type: SourceFileType) => boolean;

/** A source path that cannot be added (code E_SOURCE). */
export class SourceError extends TsixError {
  constructor(path: string, message: string) {
    super('E_SOURCE', `path '${path}': ${message}`, { path });
  }
}

export interface SourceHash {
  narHash: Buffer;
  narSize: number;
  /** Paths (relative to the root, '/'-separated) the filter excluded. */
  excluded: string[];
}

export function fileType(st: Stats): SourceFileType {
  return st.isFile() ? 'regular' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'unknown';
}

function lstatOrThrow(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TsixError('E_SOURCE', `getting status of '${path}': ${err.code === 'ENOENT' ? 'No such file or directory' : err.message}`, { path });
  }
}

/** sha256 of the NAR serialisation of `root` (the root itself is never filtered, as in Nix). */
export function hashSourceTree(root: string, filter: SourceFilter | null): SourceHash {
  const h = createHash('sha256');
  let size = 0;
  const excluded: string[] = [];
  const put = (b: Uint8Array): void => { h.update(b); size += b.length; };
  put(NAR_TOKENS.magic);
  const buf = Buffer.allocUnsafe(1 << 20);
  const dump = (path: string, rel: string, st: Stats): void => {
    put(NAR_TOKENS.open);
    if (st.isSymbolicLink()) {
      put(NAR_TOKENS.typeSymlink);
      put(narString(readlinkSync(path)));
    } else if (st.isFile()) {
      put(NAR_TOKENS.typeRegular);
      if (st.mode & 0o100) put(NAR_TOKENS.executable);
      put(NAR_TOKENS.contents);
      put(narLength(st.size));
      hashFileInto(path, st.size, h, buf);
      size += st.size;
      put(narPadding(st.size));
    } else if (st.isDirectory()) {
      put(NAR_TOKENS.typeDirectory);
      const names = readdirSync(path).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      for (const name of names) {
        const child = path + '/' + name;
        const childRel = rel ? rel + '/' + name : name;
        const cst = lstatOrThrow(child);
        if (filter && !filter(child, fileType(cst))) { excluded.push(childRel); continue; }
        put(NAR_TOKENS.entryOpen);
        put(narString(name));
        put(NAR_TOKENS.node);
        dump(child, childRel, cst);
        put(NAR_TOKENS.close);
      }
    } else {
      throw new SourceError(path, 'unsupported file type (only regular files, directories and symlinks can be added)');
    }
    put(NAR_TOKENS.close);
  };
  dump(root, '', lstatOrThrow(root));
  return { narHash: h.digest(), narSize: size, excluded };
}

function hashFileInto(path: string, expected: number, h: Hash, buf: Buffer): void {
  const fd = openSync(path, 'r');
  try {
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      total += n;
    }
    if (total !== expected) throw new SourceError(path, `file changed size while it was being hashed (${expected} → ${total})`);
  } finally {
    closeSync(fd);
  }
}

/** Hash of a regular file's contents (flat ingestion). */
export function hashFlatFile(path: string, algo: string): Buffer {
  const st = lstatOrThrow(path);
  if (!st.isFile()) throw new SourceError(path, 'flat hashing needs a regular file');
  const h = createHash(algo);
  hashFileInto(path, st.size, h, Buffer.allocUnsafe(1 << 20));
  return h.digest();
}
