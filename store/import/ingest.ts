// Filesystem → castore, in one pass: builds the tree (leaves first), hashes its NAR
// serialisation (narHash/narSize) and scans contents and symlink targets for references.
import { createHash, type Hash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobWriter } from '../castore/blob-service.js';
import type { Directory, Node } from '../castore/nodes.js';
import { compareNames } from '../castore/nodes.js';
import { directoryDigest, validateDirectory, validateName, validateSymlinkTarget } from '../castore/directory-codec.js';
import { encodeDirectory } from '../castore/directory-encode.js';
import { OffloadedSha256, sharedBuffer } from '../hash/offload-sha256.js';
import { InvalidInputError, TsixError } from '../errors.js';
import { narPad, narPadding, narString, NAR_TOKENS } from '../nix/nar-format.js';
import { ReferenceScanner } from '../nix/references.js';
import type { CaStore } from '../store.js';
import { readSmallFile, SmallFileReader, WORKER_MIN_FILES, type SmallFile } from './small-file-reader.js';

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
  | { kind: 'regular'; name: string; path: string; size: number; executable: boolean; seq?: number }
  | { kind: 'symlink'; name: string; target: string };

const SMALL_FILE = 1 << 20;
/** Trees with at least this many bytes of file contents hash their NAR on a worker thread. */
const OFFLOAD_MIN = 32 << 20;
const READ_BUF = 4 << 20;
/** Blob writes of small files in flight at once (their order does not matter, only completion before the directories). */
const MAX_INFLIGHT = 64;
/** Small files are stored in groups of up to this many files or bytes (with a store that takes groups). */
const GROUP_FILES = 512;
const GROUP_BYTES = 8 << 20;
const GROUPS_IN_FLIGHT = 4;
/** Large-file bytes read ahead of their blob writers at most (shared memory held meanwhile); TSIX_INGEST_BACKLOG (bytes) lets tests reach the limit with small trees. */
/** NAR pieces up to this size are gathered before hashing; the buffer gathering them. */
const TOKEN_MAX = 64;
const TOKEN_BUF = 16 << 10;
const BACKLOG_MAX = Number(process.env.TSIX_INGEST_BACKLOG ?? 128 << 20);

function noop(): void {}

export class IngestError extends TsixError {
  constructor(path: string, message: string) {
    super('E_INGEST', `${path}: ${message}`, { path });
  }
}

export async function ingestPath(cas: CaStore, fsPath: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const root = await walk(fsPath, '', '', opts.filter);
  const hasher: NarHasher = contentBytes(root) >= OFFLOAD_MIN ? new OffloadedSha256() : new LocalSha256();
  const small = smallFiles(root, []);
  const reader = small.length >= WORKER_MIN_FILES ? new SmallFileReader(small) : null;
  try {
    const ctx = new IngestRun(cas, new ReferenceScanner(opts.needles ?? []), hasher, reader);
    ctx.nar(NAR_TOKENS.magic);
    const node = await ctx.ingest(root);
    await ctx.finish();
    return { node, narHash: await hasher.digest(), narSize: ctx.narSize, references: [...ctx.scanner.found()].sort() };
  } finally {
    await Promise.all([hasher.close(), reader?.close()]);
  }
}

/** The small files of the tree in NAR order (the order ingest takes them), numbering them. */
function smallFiles(e: FsEntry, out: SmallFile[]): SmallFile[] {
  if (e.kind === 'directory') for (const c of e.children) smallFiles(c, out);
  else if (e.kind === 'regular' && e.size <= SMALL_FILE) {
    e.seq = out.length;
    out.push({ path: e.path, size: e.size });
  }
  return out;
}

/** SHA-256 of the NAR, on this thread or a worker. */
interface NarHasher {
  update(b: Uint8Array): void;
  /** `b` is never modified again (and, for a worker, is in shared memory). */
  updateShared(b: Uint8Array): void;
  digest(): Promise<Buffer>;
  close(): Promise<void>;
}

class LocalSha256 implements NarHasher {
  private readonly h: Hash = createHash('sha256');
  update(b: Uint8Array): void { this.h.update(b); }
  updateShared(b: Uint8Array): void { this.h.update(b); }
  async digest(): Promise<Buffer> { return this.h.digest(); }
  async close(): Promise<void> {}
}

function contentBytes(e: FsEntry): number {
  if (e.kind === 'regular') return e.size;
  if (e.kind === 'directory') return e.children.reduce((a, c) => a + contentBytes(c), 0);
  return 0;
}

// Metadata is read with synchronous calls: for a tree in the page cache they cost a few
// microseconds each, far less than a thread-pool round trip per entry. Without a filter (the
// only asynchronous part) the walk is synchronous: no promise per entry.
async function walk(path: string, name: string, rel: string, filter: IngestOptions['filter']): Promise<FsEntry> {
  if (!filter) return walkSync(path, name);
  const e = lstatEntry(path, name);
  if (e.kind !== 'directory') return e;
  const kept: FsEntry[] = [];
  for (const n of e.names) {
    const childRel = rel ? `${rel}/${n}` : n;
    const child = await walk(childPath(path, n), n, childRel, filter);
    if (await filter(childRel, child.kind)) kept.push(child);
  }
  return { kind: 'directory', name, children: kept.sort(byName) };
}

function walkSync(path: string, name: string): FsEntry {
  const e = lstatEntry(path, name);
  if (e.kind !== 'directory') return e;
  return { kind: 'directory', name, children: e.names.map((n) => walkSync(childPath(path, n), n)).sort(byName) };
}

/** A directory's path joined with a validated name (no '.', '..' or '/' in it: no normalising needed). */
function childPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

function byName(a: FsEntry, b: FsEntry): number {
  return compareNames(a.name, b.name);
}

/** The entry at `path` from its lstat; a directory comes with its checked names, its children not read yet. */
function lstatEntry(path: string, name: string): Exclude<FsEntry, { kind: 'directory' }> | { kind: 'directory'; names: string[] } {
  let st: Stats;
  try { st = lstatSync(path); } catch (err) {
    throw new IngestError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
  }
  if (st.isSymbolicLink()) {
    const target = readlinkSync(path);
    validateSymlinkTarget(target, path);
    return { kind: 'symlink', name, target };
  }
  if (st.isFile()) return { kind: 'regular', name, path, size: st.size, executable: (st.mode & 0o100) !== 0 };
  if (!st.isDirectory()) throw new IngestError(path, 'unsupported file type (only regular files, directories and symlinks can be stored)');
  let names: string[];
  try { names = readdirSync(path); } catch (err) { throw new IngestError(path, (err as Error).message); }
  for (const n of names) {
    try { validateName(n); } catch (err) { throw new IngestError(join(path, n), (err as Error).message); }
  }
  return { kind: 'directory', names };
}

class IngestRun {
  narSize = 0;
  /** NAR tokens not yet given to the hasher (its update copies them: `tok` is reused). */
  private readonly tok = Buffer.allocUnsafe(TOKEN_BUF);
  private tokLen = 0;
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown = null;
  /** Directories in post-order (children first), stored together once every blob is. */
  private readonly dirs: Directory[] = [];
  /** Small files read and hashed, waiting to be stored as a group. */
  private group: { path: string; data: Buffer; digest: Buffer }[] = [];
  private groupBytes = 0;
  private groupsInFlight = 0;
  /** Bytes of large files read and hashed, not yet taken by their blob writers, and those writes. */
  private backlog = 0;
  private readonly lagging = new Set<Promise<void>>();

  /** Large file contents are read into shared memory when the NAR is hashed on a worker. */
  private readonly alloc: (n: number) => Buffer;

  constructor(private readonly cas: CaStore, readonly scanner: ReferenceScanner, private readonly narHash: NarHasher, private readonly reader: SmallFileReader | null) {
    this.alloc = narHash instanceof OffloadedSha256 ? sharedBuffer : (n) => Buffer.allocUnsafe(n);
  }

  /**
   * Adds NAR bytes. Tokens (and other short pieces) are gathered in `tok` and hashed with the
   * next longer piece: a file entry is then two hasher updates rather than about ten, and its
   * length and name are written there without a buffer of their own. `kept`: `b` is shared
   * memory never modified again (the small-file reader's slabs), which goes to the hashing worker
   * as a view instead of a copy into its staging memory (90 MiB of small files in the benchmark
   * tree, and a fresh, zero-filled 1 MiB staging segment for each MiB of them).
   */
  nar(b: Buffer, kept = false): void {
    this.narSize += b.length;
    if (b.length > TOKEN_MAX) {
      this.flushNar();
      if (kept) this.narHash.updateShared(b);
      else this.narHash.update(b);
      return;
    }
    if (this.tokLen + b.length > this.tok.length) this.flushNar();
    for (let i = 0; i < b.length; i++) this.tok[this.tokLen + i] = b[i]!;
    this.tokLen += b.length;
  }

  /** A NAR u64 (a file's length). */
  narU64(n: number): void {
    if (this.tokLen + 8 > this.tok.length) this.flushNar();
    this.tok.writeUInt32LE(n % 0x100000000, this.tokLen);
    this.tok.writeUInt32LE(Math.floor(n / 0x100000000), this.tokLen + 4);
    this.tokLen += 8;
    this.narSize += 8;
  }

  /** A NAR string token (a name or symlink target: at most 4095 bytes, so it fits `tok`). */
  narStr(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    const padded = 8 + len + narPad(len);
    if (padded > this.tok.length) { this.nar(narString(s)); return; }
    if (this.tokLen + padded > this.tok.length) this.flushNar();
    this.tok.writeUInt32LE(len, this.tokLen);
    this.tok.writeUInt32LE(0, this.tokLen + 4);
    this.tok.write(s, this.tokLen + 8, 'utf8');
    this.tok.fill(0, this.tokLen + 8 + len, this.tokLen + padded);
    this.tokLen += padded;
    this.narSize += padded;
  }

  /** Hashes the gathered tokens (before any piece hashed directly, and at the end). */
  flushNar(): void {
    if (this.tokLen === 0) return;
    this.narHash.update(this.tok.subarray(0, this.tokLen));
    this.tokLen = 0;
  }

  /** Runs a blob write in the background, at most MAX_INFLIGHT at once. */
  private async spawn(task: () => Promise<void>): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.inflight.size >= MAX_INFLIGHT) await Promise.race(this.inflight);
    const p: Promise<void> = task().catch((err: unknown) => { this.failure ??= err; }).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Waits for every blob, then stores the directories, leaves first, in one batch. */
  async finish(): Promise<void> {
    this.flushNar();
    await this.flushGroup();
    await Promise.all(this.inflight);
    if (this.failure) throw this.failure;
    await this.cas.directories.putMany(this.dirs);
  }

  async ingest(e: FsEntry): Promise<Node> {
    this.nar(NAR_TOKENS.open);
    let node: Node;
    if (e.kind === 'symlink') {
      this.nar(NAR_TOKENS.typeSymlink);
      this.narStr(e.target);
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
    if (e.size <= SMALL_FILE) return this.ingestSmallFile(e);
    // With the NAR hashed on a worker, the file's BLAKE3 is computed there too, from the same reads.
    const offload = this.narHash instanceof OffloadedSha256 ? this.narHash : null;
    const blobId = offload?.blob();
    const w = this.cas.blobs.writer({ hashedByCaller: offload !== null, size: e.size });
    try {
      return await this.ingestLargeFile(e, w, offload, blobId);
    } catch (err) {
      w.abort?.(); // a worker cutting the file forgets it
      throw err;
    }
  }

  private async ingestLargeFile(e: Extract<FsEntry, { kind: 'regular' }>, w: BlobWriter, offload: OffloadedSha256 | null, blobId: number | undefined): Promise<Node> {
    let size = 0;
    const take = async (b: Buffer) => {
      if (size === 0) this.narU64(e.size);
      size += b.length;
      if (size > e.size) throw new IngestError(e.path, 'file grew while it was being added');
      this.flushNar();
      this.narHash.updateShared(b);
      if (offload) offload.blobUpdate(blobId!, b);
      this.scanner.update(b);
      if (!offload) { await w.write(b, true); return; }
      // The NAR and the file's BLAKE3 are hashed on the worker as read: the writer (cutting on
      // its own worker) may lag behind, and the entries after this file are read and hashed
      // meanwhile, up to BACKLOG_MAX bytes ahead of it.
      writes = writes.then(() => w.write(b, true));
      writes.catch(noop); // failures surface through the writer's close (a background task)
      await this.lag(writes, b.length);
    };
    let writes: Promise<void> = Promise.resolve();
    {
      const fh = await open(e.path, 'r');
      try {
        // A fresh buffer per read, handed over to the blob writer (it keeps views of it until its
        // chunks are written, instead of copying); the next read runs while this piece is hashed
        // and chunked.
        const read = (pos: number) => {
          const buf = this.alloc(Math.min(READ_BUF, Math.max(e.size - pos, 0) + 1));
          return fh.read(buf, 0, buf.length, pos).then((r) => buf.subarray(0, r.bytesRead));
        };
        let pos = 0;
        let next = read(pos);
        for (;;) {
          const b = await next;
          if (b.length === 0) break;
          pos += b.length;
          next = read(pos);
          await take(b);
        }
      } finally {
        await fh.close();
      }
    }
    if (size !== e.size) throw new IngestError(e.path, `file changed size while it was being added (${e.size} → ${size})`);
    if (size === 0) this.narU64(0);
    this.narSize += size;
    this.nar(narPadding(size));
    this.scanner.end();
    if (!offload) {
      const { digest } = await w.close();
      return { type: 'file', name: e.name, digest, size, executable: e.executable };
    }
    const digest = await offload.blobDigest(blobId!);
    const written = writes;
    await this.spawn(async () => {
      try {
        await written;
        await w.close(digest);
      } catch (err) {
        w.abort?.();
        throw err;
      }
    });
    return { type: 'file', name: e.name, digest, size, executable: e.executable };
  }

  /** Counts `bytes` as handed to a lagging writer until `p` settles; waits while too many are. */
  private async lag(p: Promise<void>, bytes: number): Promise<void> {
    this.backlog += bytes;
    const settled: Promise<void> = p.then(noop, noop).then(() => { this.backlog -= bytes; this.lagging.delete(settled); });
    this.lagging.add(settled);
    while (this.backlog > BACKLOG_MAX) await Promise.race(this.lagging);
  }

  // Small files: read and BLAKE3-hashed ahead on the reader's worker (or, a few, here
  // synchronously: a page-cache read costs less than an async round trip), NAR-hashed in order
  // here, stored in groups in the background.
  private async ingestSmallFile(e: Extract<FsEntry, { kind: 'regular' }>): Promise<Node> {
    const r = this.reader ? await this.reader.take(e.seq!) : readSmallFile(e);
    if ('error' in r) throw new IngestError(e.path, r.error);
    const { data: b, digest } = r;
    this.narU64(b.length);
    this.nar(b, true); // the reader's slab: never rewritten
    this.nar(narPadding(b.length));
    this.scanner.update(b);
    this.scanner.end();
    if (this.cas.blobs.putSmall) {
      this.group.push({ path: e.path, data: b, digest });
      this.groupBytes += b.length;
      if (this.group.length >= GROUP_FILES || this.groupBytes >= GROUP_BYTES) await this.flushGroup();
    } else {
      await this.spawn(async () => {
        const w = this.cas.blobs.writer();
        await w.write(b, true);
        const r = await w.close();
        if (!r.digest.equals(digest)) throw new IngestError(e.path, 'blob digest mismatch while storing');
      });
    }
    return { type: 'file', name: e.name, digest, size: b.length, executable: e.executable };
  }

  /** Stores the waiting small files as one group, in the background. */
  private async flushGroup(): Promise<void> {
    const group = this.group;
    if (group.length === 0) return;
    this.group = [];
    this.groupBytes = 0;
    // At most GROUPS_IN_FLIGHT groups are held in memory while they are stored.
    while (this.groupsInFlight >= GROUPS_IN_FLIGHT) await Promise.race(this.inflight);
    this.groupsInFlight++;
    await this.spawn(async () => {
      try {
        const digests = await this.cas.blobs.putSmall!(group.map((f) => f.data), group.map((f) => f.digest));
        group.forEach((f, i) => {
          if (!digests[i]!.equals(f.digest)) throw new IngestError(f.path, 'blob digest mismatch while storing');
        });
      } finally {
        this.groupsInFlight--;
      }
    });
  }

  private async ingestDirectory(e: Extract<FsEntry, { kind: 'directory' }>): Promise<Node> {
    this.nar(NAR_TOKENS.typeDirectory);
    const dir: Directory = { directories: [], files: [], symlinks: [] };
    let subtree = 0;
    for (const c of e.children) {
      this.nar(NAR_TOKENS.entryOpen);
      this.narStr(c.name);
      // Nix scans the whole NAR, so a hash in an entry name is a reference too.
      this.scanner.scanWhole(c.name);
      this.nar(NAR_TOKENS.node);
      const n = await this.ingest(c);
      this.nar(NAR_TOKENS.close);
      if (n.type === 'directory') { dir.directories.push({ name: n.name, digest: n.digest, size: n.size }); subtree += n.size; }
      else if (n.type === 'file') dir.files.push({ name: n.name, digest: n.digest, size: n.size, executable: n.executable });
      else dir.symlinks.push({ name: n.name, target: n.target });
      subtree++;
    }
    try { validateDirectory(dir); } catch (err) {
      throw err instanceof InvalidInputError ? new IngestError(e.name, err.message) : err;
    }
    this.dirs.push(dir);
    return { type: 'directory', name: e.name, digest: directoryDigest(encodeDirectory(dir)), size: subtree };
  }

}
