// NAR → castore: parses a NAR stream, writing file contents as blobs and directories (leaves
// first, in one putMany at the end) while computing narHash/narSize and scanning references.
import { directoryDigest } from '../castore/directory-codec.js';
import { encodeDirectory } from '../castore/directory-encode.js';
import { blake3 } from '../hash/blake3.js';
import type { BlobWriter } from '../castore/blob-service.js';
import { compareNames, emptyDirectory, type Directory, type FileEntry, type Node } from '../castore/nodes.js';
import { HashMismatchError } from '../errors.js';
import type { CaStore } from '../store.js';
import { sharedBuffer } from '../hash/offload-sha256.js';
import { inFreshSegments, isFreshSegment } from '../castore/shared-segments.js';
import { formatHash } from './hash.js';
import { parseNar, type NarHasher, type NarSink } from './nar-parse.js';
import { ChunkingPool, type ChunkingStream } from '../castore/chunking-pool.js';
import { ReferenceScanner } from './references.js';

export interface ImportNarOptions {
  /**
   * Store paths (or their 32-character hash parts) to look for. As Nix scans the whole NAR,
   * file contents, symlink targets and entry names are all scanned.
   */
  needles?: string[];
  /** The archive's expected sha256 (e.g. a narinfo's NarHash): a mismatch stores no directory. */
  expectedNarHash?: Buffer;
  /** The archive's expected size in bytes. */
  expectedNarSize?: number;
  /**
   * The archive's size as far as known beforehand (e.g. a narinfo's NarSize, not yet checked):
   * a large archive is hashed and its large files cut on worker threads.
   */
  sizeHint?: number;
}


export interface ImportNarResult {
  /** The root node (name ''). */
  node: Node;
  /** sha256 of the NAR, 32 raw bytes. */
  narHash: Buffer;
  narSize: number;
  /** The needles (as given) whose hash parts occur, sorted, without duplicates. */
  references: string[];
}

/** Writes to a BlobWriter go out in pieces of at least this size (fewer, larger chunker calls). */
const WRITE_BATCH = 4 << 20;
/**
 * With a blob service that stores groups (putSmall), files up to this size are gathered whole and
 * stored in groups of up to GROUP_FILES files or GROUP_BYTES bytes, at most GROUPS_IN_FLIGHT at
 * once, in the background: one batched lookup and write per group instead of two round trips per file.
 */
const SMALL_FILE = 1 << 20;
const GROUP_FILES = 512;
const GROUP_BYTES = 8 << 20;
const GROUPS_IN_FLIGHT = 4;
/** Large files whose writers may still be closing (their chunks cut, stored and indexed) while the next ones arrive. */
const FILES_IN_FLIGHT = 3;
/**
 * Archives from this size on are regathered into shared memory segments of SEGMENT bytes as they
 * arrive (the one copy of their bytes here), so the narHash and the large files' chunking and
 * hashing can run on worker threads, which take the segments without a copy.
 */
const STAGED_NAR_MIN = 8 << 20;
const SEGMENT = 4 << 20;

/** `waits`: the closing of this directory's large files, which fill in their entries' digests. */
interface Frame { name: string; dir: Directory; size: number; waits: Promise<void>[] }

function hashPartOf(needle: string): string {
  if (needle.length === 32) return needle;
  const slash = needle.lastIndexOf('/');
  return needle.slice(slash + 1, slash + 33);
}

/** Builds castore nodes from parser events. */
class CastoreSink implements NarSink {
  root: Node | null = null;
  private readonly stack: Frame[] = [];
  /** Closed directories, in post-order (leaves first). */
  readonly pending: Directory[] = [];
  private writer: BlobWriter | null = null;
  private file: { name: string; executable: boolean } | null = null;
  /**
   * Small pieces are gathered here; each full batch is handed over to the writer (no copy there)
   * and a fresh one started. Shared memory: the writer may cut and hash it on a worker.
   * Allocated on first use: most archives have no large file, and zeroing 4 MiB per archive
   * was most of the cost of substituting many small paths.
   */
  private batch: Buffer | null = null;
  private batchBytes = 0;
  /** The current small file's contents (gathered whole), and how much of it has arrived. */
  private small: Buffer | null = null;
  private smallFill = 0;
  private group: { data: Buffer; digest: Buffer }[] = [];
  private groupBytes = 0;
  private readonly storing = new Set<Promise<void>>();
  private readonly closing = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(private readonly cas: CaStore, private readonly scanner: ReferenceScanner | null) {}

  /** The parser has checked that names and targets are UTF-8. */
  private decode(raw: Buffer | null): string {
    return raw === null ? '' : raw.toString('utf8');
  }

  private scanName(raw: Buffer | null): void {
    if (raw && this.scanner) this.scanner.scanWhole(raw);
  }

  private add(node: Node): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) { this.root = node; return; }
    // Entries arrive in byte order (the parser checks it), so each list stays sorted.
    if (node.type === 'directory') { top.dir.directories.push({ name: node.name, digest: node.digest, size: node.size }); top.size += 1 + node.size; }
    else if (node.type === 'file') { top.dir.files.push({ name: node.name, digest: node.digest, size: node.size, executable: node.executable }); top.size += 1; }
    else { top.dir.symlinks.push({ name: node.name, target: node.target }); top.size += 1; }
  }

  directoryStart(name: Buffer | null): void {
    this.scanName(name);
    this.stack.push({ name: this.decode(name), dir: emptyDirectory(), size: 0, waits: [] });
  }

  async directoryEnd(): Promise<void> {
    const f = this.stack.pop()!;
    if (f.waits.length) await Promise.all(f.waits);
    const digest = directoryDigest(encodeDirectory(f.dir));
    this.pending.push(f.dir);
    this.add({ type: 'directory', name: f.name, digest, size: f.size });
  }

  fileStart(name: Buffer | null, executable: boolean, size: number): void {
    this.scanName(name);
    this.file = { name: this.decode(name), executable };
    if (size <= SMALL_FILE && this.cas.blobs.putSmall) {
      this.small = Buffer.allocUnsafe(size);
      this.smallFill = 0;
    } else {
      this.writer = this.cas.blobs.writer({ size });
    }
  }

  async fileData(data: Buffer): Promise<void> {
    this.scanner?.update(data);
    if (this.small) {
      if (this.smallFill + data.length > this.small.length) throw new Error('NAR file contents longer than declared');
      data.copy(this.small, this.smallFill);
      this.smallFill += data.length;
      return;
    }
    // A piece of a fresh segment is never rewritten: the writer takes it as it is (no copy).
    if (isFreshSegment(data)) {
      await this.writer!.write(data, true);
      return;
    }
    let off = 0;
    while (off < data.length) {
      const k = Math.min(data.length - off, WRITE_BATCH - this.batchBytes);
      this.batch ??= sharedBuffer(WRITE_BATCH);
      data.copy(this.batch, this.batchBytes, off, off + k);
      this.batchBytes += k;
      off += k;
      if (this.batchBytes === WRITE_BATCH) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.batchBytes === 0) return;
    const n = this.batchBytes;
    const full = this.batch!;
    this.batchBytes = 0;
    this.batch = null;
    await this.writer!.write(full.subarray(0, n), true);
  }

  async fileEnd(): Promise<void> {
    if (this.small) {
      const data = this.small;
      this.small = null;
      if (this.smallFill !== data.length) throw new Error('NAR file contents shorter than declared');
      this.scanner?.end();
      const digest = blake3(data);
      this.group.push({ data, digest });
      this.groupBytes += data.length;
      if (this.group.length >= GROUP_FILES || this.groupBytes >= GROUP_BYTES) await this.storeGroup();
      const f = this.file!;
      this.file = null;
      this.add({ type: 'file', name: f.name, digest, size: data.length, executable: f.executable });
      return;
    }
    await this.flush();
    this.scanner?.end();
    const writer = this.writer!;
    this.writer = null;
    const f = this.file!;
    this.file = null;
    await this.closeLater(writer, f);
  }

  /**
   * Enters the file now (entries stay in order) and fills in its digest and size when its writer
   * has closed, while the next files arrive; its directory waits for that before it is encoded.
   */
  private async closeLater(writer: BlobWriter, f: { name: string; executable: boolean }): Promise<void> {
    while (this.closing.size >= FILES_IN_FLIGHT) await Promise.race(this.closing);
    const top = this.stack[this.stack.length - 1];
    const entry: FileEntry = { name: f.name, digest: Buffer.alloc(0), size: 0, executable: f.executable };
    const node: Node = { type: 'file', ...entry };
    if (top) { top.dir.files.push(entry); top.size += 1; } else this.root = node;
    const p = writer.close().then(({ digest, size }) => {
      entry.digest = digest;
      entry.size = size;
      Object.assign(node, { digest, size });
    });
    const tracked = p.finally(() => this.closing.delete(tracked));
    tracked.catch(() => undefined);
    this.closing.add(tracked);
    top?.waits.push(p);
  }

  /** Gives up the file being written (the archive failed): a worker forgets its stream. */
  abort(): void {
    this.writer?.abort?.();
    this.writer = null;
  }

  /** Stores the gathered small files in the background (at most GROUPS_IN_FLIGHT groups at once). */
  private async storeGroup(): Promise<void> {
    if (this.failure) throw this.failure;
    const group = this.group;
    if (group.length === 0) return;
    this.group = [];
    this.groupBytes = 0;
    while (this.storing.size >= GROUPS_IN_FLIGHT) await Promise.race(this.storing);
    const p: Promise<void> = this.cas.blobs.putSmall!(group.map((g) => g.data), group.map((g) => g.digest))
      .then(() => undefined, (err: unknown) => { this.failure ??= err; })
      .finally(() => this.storing.delete(p));
    this.storing.add(p);
  }

  /** Stores what is left and waits until every small file is stored (before any directory is). */
  async finish(): Promise<void> {
    await this.storeGroup();
    await Promise.all(this.closing);
    await Promise.all(this.storing);
    if (this.failure) throw this.failure;
  }

  symlink(name: Buffer | null, target: Buffer): void {
    this.scanName(name);
    this.scanner?.scanWhole(target);
    this.add({ type: 'symlink', name: this.decode(name), target: this.decode(target) });
  }
}

/**
 * Imports a NAR into the castore. Blobs are written as files complete; directories are stored
 * only after the whole archive has parsed (and matched `expectedNarHash`/`expectedNarSize`, else
 * HashMismatchError), in one putMany (leaves first), so a rejected archive leaves no directory. Rejects malformed archives with InvalidInputError (code
 * E_INVALID_INPUT) naming the problem and its byte offset.
 */
export async function importNar(source: AsyncIterable<Uint8Array>, cas: CaStore, opts: ImportNarOptions = {}): Promise<ImportNarResult> {
  const needles = opts.needles ?? [];
  const scanner = needles.length ? new ReferenceScanner(needles.map(hashPartOf)) : null;
  const staged = (opts.sizeHint ?? opts.expectedNarSize ?? 0) >= STAGED_NAR_MIN;
  const sink = new CastoreSink(cas, scanner);
  const hasher = staged ? new WorkerSha256() : undefined;
  let parsed;
  try {
    parsed = await parseNar(staged ? inFreshSegments(source, SEGMENT) : source, sink, { requireUtf8: true, hasher });
  } catch (err) {
    sink.abort();
    hasher?.abort();
    throw err;
  }
  const { narHash, narSize } = parsed;
  await sink.finish();
  if (opts.expectedNarHash && !opts.expectedNarHash.equals(narHash)) {
    throw new HashMismatchError('NAR', formatHash({ algo: 'sha256', digest: opts.expectedNarHash }, 'base32', true), formatHash({ algo: 'sha256', digest: narHash }, 'base32', true));
  }
  if (opts.expectedNarSize !== undefined && opts.expectedNarSize !== narSize) {
    throw new HashMismatchError('NAR size', String(opts.expectedNarSize), String(narSize));
  }
  if (sink.pending.length) await cas.directories.putMany(sink.pending);
  const found = scanner?.found() ?? new Set<string>();
  const references = [...new Set(needles.filter((n) => found.has(hashPartOf(n))))].sort(compareNames);
  return { node: sink.root!, narHash, narSize, references };
}

/** The narHash computed on a worker from the shared segments as they pass. */
class WorkerSha256 implements NarHasher {
  private readonly stream: ChunkingStream = ChunkingPool.shared().open('sha256');
  private failure: unknown = null;

  update(b: Buffer): void {
    this.stream.push(b, false).catch((err: unknown) => { this.failure ??= err; });
  }

  async digest(): Promise<Buffer> {
    const { whole } = await this.stream.push(null, true);
    if (this.failure) throw this.failure;
    return whole!;
  }

  abort(): void {
    this.stream.drop();
  }
}
