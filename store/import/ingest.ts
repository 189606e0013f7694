// Filesystem → castore, in one pass: builds the tree (leaves first), hashes its NAR
// serialisation (narHash/narSize) and scans contents and symlink targets for references.
import { createHash, type Hash } from 'node:crypto';
import { lstat, open, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Directory, Node } from '../castore/nodes.js';
import { compareNames } from '../castore/nodes.js';
import { validateName, validateSymlinkTarget } from '../castore/directory-codec.js';
import { InvalidInputError, TsixError } from '../errors.js';
import { narLength, narPadding, narString, NAR_TOKENS } from '../nix/nar-format.js';
import { ReferenceScanner } from '../nix/references.js';
import type { CaStore } from '../store.js';

export interface IngestResult {
  node: Node;
  narHash: Buffer;
  narSize: number;
  /** Needles (hash parts) found in the tree. */
  references: string[];
}

export interface IngestOptions {
  /** Hash parts to scan for. */
  needles?: Iterable<string>;
  /** Skips entries (relative path from the root, with its lstat kind) when it returns false. */
  filter?: (relPath: string, kind: 'directory' | 'regular' | 'symlink') => boolean | Promise<boolean>;
}

type FsEntry =
  | { kind: 'directory'; name: string; children: FsEntry[] }
  | { kind: 'regular'; name: string; path: string; size: number; executable: boolean }
  | { kind: 'symlink'; name: string; target: string };

const SMALL_FILE = 1 << 20;
const READ_BUF = 4 << 20;
const PREFETCH = 32;

export class IngestError extends TsixError {
  constructor(path: string, message: string) {
    super('E_INGEST', `${path}: ${message}`, { path });
  }
}

export async function ingestPath(cas: CaStore, fsPath: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const root = await walk(fsPath, '', '', opts.filter);
  const ctx = new IngestRun(cas, new ReferenceScanner(opts.needles ?? []));
  ctx.prefetchFrom(root);
  ctx.nar(NAR_TOKENS.magic);
  const node = await ctx.ingest(root);
  return { node, narHash: ctx.narHash.digest(), narSize: ctx.narSize, references: [...ctx.scanner.found()].sort() };
}

async function walk(path: string, name: string, rel: string, filter: IngestOptions['filter']): Promise<FsEntry> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    throw new IngestError(path, err.code === 'ENOENT' ? 'no such file or directory' : err.message);
  });
  if (st.isSymbolicLink()) {
    const target = await readlink(path);
    validateSymlinkTarget(target, path);
    return { kind: 'symlink', name, target };
  }
  if (st.isFile()) return { kind: 'regular', name, path, size: st.size, executable: (st.mode & 0o100) !== 0 };
  if (!st.isDirectory()) throw new IngestError(path, 'unsupported file type (only regular files, directories and symlinks can be stored)');
  const names = await readdir(path);
  const children = await Promise.all(names.map(async (n) => {
    try { validateName(n); } catch (err) { throw new IngestError(join(path, n), (err as Error).message); }
    const childRel = rel ? `${rel}/${n}` : n;
    const child = await walk(join(path, n), n, childRel, filter);
    if (filter && !(await filter(childRel, child.kind))) return null;
    return child;
  }));
  const kept = children.filter((c): c is FsEntry => c !== null);
  kept.sort((a, b) => compareNames(a.name, b.name));
  return { kind: 'directory', name, children: kept };
}

class IngestRun {
  readonly narHash: Hash = createHash('sha256');
  narSize = 0;
  private readonly smallFiles: Extract<FsEntry, { kind: 'regular' }>[] = [];
  private readonly reads = new Map<string, Promise<Buffer>>();
  private nextRead = 0;

  constructor(private readonly cas: CaStore, readonly scanner: ReferenceScanner) {}

  nar(b: Buffer): void {
    this.narHash.update(b);
    this.narSize += b.length;
  }

  /** Small files are read ahead, a window at a time, in the order they will be hashed. */
  prefetchFrom(e: FsEntry): void {
    if (e.kind === 'regular' && e.size <= SMALL_FILE) this.smallFiles.push(e);
    if (e.kind === 'directory') for (const c of e.children) this.prefetchFrom(c);
  }

  private readSmall(e: Extract<FsEntry, { kind: 'regular' }>): Promise<Buffer> {
    while (this.nextRead < this.smallFiles.length && this.reads.size < PREFETCH) {
      const f = this.smallFiles[this.nextRead++]!;
      const p = readFile(f.path);
      p.catch(() => undefined);
      this.reads.set(f.path, p);
    }
    const p = this.reads.get(e.path) ?? readFile(e.path);
    this.reads.delete(e.path);
    return p;
  }

  async ingest(e: FsEntry): Promise<Node> {
    this.nar(NAR_TOKENS.open);
    let node: Node;
    if (e.kind === 'symlink') {
      this.nar(NAR_TOKENS.typeSymlink);
      this.nar(narString(e.target));
      this.scanner.scanWhole(e.target);
      node = { type: 'symlink', name: e.name, target: e.target };
    } else if (e.kind === 'regular') {
      node = await this.ingestFile(e);
    } else {
      node = await this.ingestDirectory(e);
    }
    this.nar(NAR_TOKENS.close);
    return node;
  }

  private async ingestFile(e: Extract<FsEntry, { kind: 'regular' }>): Promise<Node> {
    this.nar(NAR_TOKENS.typeRegular);
    if (e.executable) this.nar(NAR_TOKENS.executable);
    this.nar(NAR_TOKENS.contents);
    const w = this.cas.blobs.writer();
    let size = 0;
    const take = async (b: Buffer) => {
      if (size === 0) this.nar(narLength(e.size));
      size += b.length;
      if (size > e.size) throw new IngestError(e.path, 'file grew while it was being added');
      this.narHash.update(b);
      this.scanner.update(b);
      await w.write(b);
    };
    if (e.size <= SMALL_FILE) {
      const b = await this.readSmall(e);
      if (b.length) await take(b);
    } else {
      const fh = await open(e.path, 'r');
      try {
        const buf = Buffer.allocUnsafe(READ_BUF);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, READ_BUF, null);
          if (bytesRead === 0) break;
          await take(buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
    }
    if (size !== e.size) throw new IngestError(e.path, `file changed size while it was being added (${e.size} → ${size})`);
    if (size === 0) this.nar(narLength(0));
    this.narSize += size;
    this.nar(narPadding(size));
    this.scanner.end();
    const { digest } = await w.close();
    return { type: 'file', name: e.name, digest, size, executable: e.executable };
  }

  private async ingestDirectory(e: Extract<FsEntry, { kind: 'directory' }>): Promise<Node> {
    this.nar(NAR_TOKENS.typeDirectory);
    const dir: Directory = { directories: [], files: [], symlinks: [] };
    let subtree = 0;
    for (const c of e.children) {
      this.nar(NAR_TOKENS.entryOpen);
      this.nar(narString(c.name));
      this.nar(NAR_TOKENS.node);
      const n = await this.ingest(c);
      this.nar(NAR_TOKENS.close);
      if (n.type === 'directory') { dir.directories.push({ name: n.name, digest: n.digest, size: n.size }); subtree += n.size; }
      else if (n.type === 'file') dir.files.push({ name: n.name, digest: n.digest, size: n.size, executable: n.executable });
      else dir.symlinks.push({ name: n.name, target: n.target });
      subtree++;
    }
    const [digest] = await this.cas.directories.putMany([dir]).catch((err: unknown) => {
      throw err instanceof InvalidInputError ? new IngestError(e.name, err.message) : err;
    });
    return { type: 'directory', name: e.name, digest: digest!, size: subtree };
  }

}
