// Reads file contents for the mount chunk by chunk: only the chunks a request overlaps are
// fetched (BlobService.read of exactly one chunk's range: the store locates and verifies it),
// cached, and copied straight into the kernel's buffer. Sequential readers get chunks fetched
// ahead of them: a reader that starts at the beginning of a big file is fed by one whole-blob
// stream (BlobService.open, which reads runs of adjacent chunks at once), others by several
// single-chunk fetches at a time. Readers that read chunk files themselves (the kernel FUSE
// server's read workers) get the blob's layout instead: where each chunk lies, or a small
// blob's bytes.
import type { BlobLayout, BlobService } from '../store/castore/blob-service.js';
import type { ChunkRef, Digest } from '../store/castore/nodes.js';
import { CorruptionError, NotFoundError } from '../store/errors.js';
import { Lru, WeightedLru } from './lru.js';
import { chunkAt } from '../store/castore/chunk-offsets.js';

interface BlobIndex { size: number; chunks: ChunkRef[]; offsets: number[] }

/** A blob's chunks in local files, with the start of each in the blob and the digests packed together. */
export interface FileLayout {
  size: number;
  chunks: BlobLayout['chunks'];
  starts: number[];
  digests: Buffer;
  /** Per chunk: 1 once its bytes were read and found to match its digest (not checked again). */
  verified: Uint8Array;
}

function fileLayout(l: BlobLayout): FileLayout {
  const starts: number[] = [];
  let at = 0;
  const digests = Buffer.allocUnsafe(l.chunks.length * 32);
  l.chunks.forEach((c, i) => { starts.push(at); at += c.size; c.digest.copy(digests, i * 32); });
  return { size: l.size, chunks: l.chunks, starts, digests, verified: new Uint8Array(l.chunks.length) };
}

/** Where a sequential reader is: furthest end read, read-ahead window, fetched-ahead point. */
interface Stream { next: number; window: number; aheadTo: number; pump?: Pump }

/**
 * A whole-blob stream (BlobService.open: the store reads runs of adjacent chunks at once) feeding
 * the chunk cache ahead of a reader that started at the beginning of a big file.
 */
interface Pump {
  iter: AsyncIterator<Buffer>;
  /** Index of the next chunk the stream will produce. */
  nextIndex: number;
  /** Produce chunks up to this index (inclusive) without being asked. */
  target: number;
  running: boolean;
  done: boolean;
  waiters: Map<number, { resolve(b: Buffer): void; reject(e: unknown): void }>;
  /** Bytes of the chunk being assembled (streams need not yield whole chunks). */
  pending: Buffer[];
  pendingBytes: number;
}

/** Blobs with at least this many chunks are streamed to sequential readers. */
const PUMP_MIN_CHUNKS = 8;
/** A chunk this close ahead of the stream is waited for rather than fetched on its own. */
const PUMP_REACH = 64;
const MAX_PUMPS = 64;

const NEAR_BEHIND = 16 << 20;
const NEAR_AHEAD = 1 << 20;

export interface BlobReaderOptions {
  /** Bytes of chunks kept in memory (default 64 MiB; the kernel keeps pages of files read). */
  cacheBytes?: number;
  /** Largest read-ahead window of a sequential reader (default 8 MiB). */
  maxReadAhead?: number;
  /** Chunk fetches allowed at once for read-ahead (default 16). */
  maxPrefetch?: number;
}

export class BlobReader {
  private readonly indexes = new Lru<string, BlobIndex>(65536);
  private readonly chunks: WeightedLru<string, Buffer>;
  private readonly fetching = new Map<string, Promise<Buffer>>();
  private readonly streams = new Lru<string, Stream>(4096);
  private readonly maxReadAhead: number;
  private readonly maxPrefetch: number;
  private prefetching = 0;
  private readonly pumps = new Map<string, Pump>();
  private readonly layouts = new Lru<string, Promise<FileLayout | Buffer | null>>(16384);

  constructor(private readonly blobs: BlobService, opts: BlobReaderOptions = {}) {
    this.chunks = new WeightedLru(opts.cacheBytes ?? 64 << 20, (b) => b.length + 64);
    this.maxReadAhead = opts.maxReadAhead ?? 16 << 20;
    this.maxPrefetch = opts.maxPrefetch ?? 32;
  }

  /** Copies bytes [pos, pos+len) of the blob into `dest`; resolves to how many (fewer at its end). */
  async readInto(digest: Digest, dest: Buffer, pos: number, len: number): Promise<number> {
    const idx = await this.index(digest);
    const end = Math.min(idx.size, pos + len);
    if (pos >= end) return 0;
    const first = chunkAt(idx.offsets, pos);
    let last = first;
    while (last + 1 < idx.chunks.length && idx.offsets[last + 1]! < end) last++;
    // Read-ahead first: it may start a stream that also serves this request's chunks.
    this.readAhead(digest, idx, pos, end, last);
    const parts: Promise<Buffer>[] = [];
    for (let i = first; i <= last; i++) parts.push(this.chunk(idx, i, digest));
    let copied = 0;
    for (let i = first; i <= last; i++) {
      const c = await parts[i - first]!;
      const s = idx.offsets[i]!;
      copied += c.copy(dest, s + Math.max(0, pos - s) - pos, Math.max(0, pos - s), Math.min(c.length, end - s));
    }
    return copied;
  }

  /** Whether the store can tell where chunk bytes lie (then layout() serves readers). */
  get hasLayouts(): boolean {
    return !!this.blobs.layout;
  }

  /**
   * For readers that read chunk files themselves (the FUSE read workers): a small blob's bytes,
   * or where its chunks lie; null if the store cannot say (use readInto). Inline bytes are not
   * kept here (the store's index cache has them).
   */
  layout(digest: Digest): Promise<FileLayout | Buffer | null> {
    if (!this.blobs.layout) return Promise.resolve(null);
    const k = digest.toString('latin1');
    const hit = this.layouts.get(k);
    if (hit) return hit;
    const bytes = this.chunks.get(k);
    if (bytes) return Promise.resolve(bytes);
    const p = this.blobs.layout(digest).then((l) => {
      this.layouts.delete(k);
      // Not in local files (or absent): readInto serves it (or says it is missing).
      if (!l) { this.layouts.set(k, Promise.resolve(null)); return null; }
      if (l.inline) { this.chunks.set(k, l.inline); return l.inline; }
      const f = fileLayout(l);
      this.layouts.set(k, Promise.resolve(f));
      return f;
    });
    this.layouts.set(k, p);
    p.catch(() => this.layouts.delete(k));
    return p;
  }

  /** The bytes of a small (inline) blob if they are in memory. */
  cachedInline(digest: Digest): Buffer | undefined {
    return this.blobs.layout ? this.chunks.peek(digest.toString('latin1')) : undefined;
  }

  /** Fetches (into the cache) the first bytes of a blob a reader is likely to want next. */
  prefetch(digest: Digest, bytes: number): void {
    if (this.prefetching >= this.maxPrefetch) return;
    this.prefetching++;
    void this.index(digest).then((idx) => {
      const waits: Promise<unknown>[] = [];
      for (let i = 0; i < idx.chunks.length && idx.offsets[i]! < bytes; i++) waits.push(this.chunk(idx, i, digest));
      return Promise.all(waits);
    }).catch(() => undefined).finally(() => { this.prefetching--; });
  }

  /**
   * Reads near the furthest point read so far (the kernel sends read-ahead requests several at
   * a time, slightly out of order) count as sequential and widen a window fetched ahead.
   */
  private readAhead(digest: Digest, idx: BlobIndex, pos: number, end: number, last: number): void {
    const k = digest.toString('latin1');
    let s = this.streams.get(k);
    if (!s) {
      s = { next: end, window: pos === 0 ? 512 << 10 : 0, aheadTo: end };
      this.streams.set(k, s);
    } else if (pos >= s.next - NEAR_BEHIND && pos <= s.next + NEAR_AHEAD) {
      s.next = Math.max(s.next, end);
      s.window = Math.min(this.maxReadAhead, Math.max(512 << 10, s.window * 2));
    } else {
      // A jump: a new reader starting over from the beginning is sequential again.
      s.next = end;
      s.window = pos === 0 ? 512 << 10 : 0;
      s.aheadTo = end;
      this.stopPump(k, s);
    }
    if (!s.window) { this.stopPump(k, s); return; }
    const target = Math.min(idx.size, s.next + s.window);
    if (s.pump || (idx.chunks.length >= PUMP_MIN_CHUNKS && pos === 0)) {
      s.pump ??= this.startPump(k, digest);
      s.pump.target = Math.max(s.pump.target, chunkAt(idx.offsets, Math.max(0, target - 1)));
      void this.runPump(s.pump, idx, digest);
      return;
    }
    let i = Math.max(last + 1, chunkAt(idx.offsets, Math.max(s.aheadTo, end)));
    for (; i < idx.chunks.length && idx.offsets[i]! < target && this.prefetching < this.maxPrefetch; i++) {
      if (this.chunks.has(idx.chunks[i]!.digest.toString('latin1'))) continue;
      this.prefetching++;
      this.chunk(idx, i, digest).catch(() => undefined).finally(() => { this.prefetching--; });
    }
    s.aheadTo = Math.max(s.aheadTo, i < idx.chunks.length ? idx.offsets[i]! : idx.size);
  }

  private async index(digest: Digest): Promise<BlobIndex> {
    const k = digest.toString('latin1');
    const hit = this.indexes.get(k);
    if (hit) return hit;
    const st = await this.blobs.stat(digest);
    if (!st) throw new NotFoundError(`blob ${digest.toString('hex')}`, { digest: digest.toString('hex') });
    const offsets: number[] = [];
    let off = 0;
    for (const c of st.chunks) { offsets.push(off); off += c.size; }
    // A store may keep small blobs whole (no chunk list): read them as one piece.
    const idx = off === st.size && st.chunks.length
      ? { size: st.size, chunks: st.chunks, offsets }
      : { size: st.size, chunks: [{ digest, size: st.size }], offsets: [0] };
    this.indexes.set(k, idx);
    return idx;
  }

  private chunk(idx: BlobIndex, i: number, blob: Digest): Promise<Buffer> {
    const ref = idx.chunks[i]!;
    const k = ref.digest.toString('latin1');
    const hit = this.chunks.get(k);
    if (hit) return Promise.resolve(hit);
    let p = this.fetching.get(k);
    if (!p) {
      const pump = this.pumps.get(blob.toString('latin1'));
      if (pump && !pump.done && i >= pump.nextIndex && i < pump.nextIndex + PUMP_REACH) {
        p = new Promise<Buffer>((resolve, reject) => pump.waiters.set(i, { resolve, reject })).finally(() => this.fetching.delete(k));
        pump.target = Math.max(pump.target, i);
        void this.runPump(pump, idx, blob);
      } else {
        p = this.fetch(idx, i, blob).finally(() => this.fetching.delete(k));
      }
      this.fetching.set(k, p);
    }
    return p;
  }

  private startPump(k: string, digest: Digest): Pump {
    if (this.pumps.size >= MAX_PUMPS) {
      const [oldKey, old] = this.pumps.entries().next().value as [string, Pump];
      this.endPump(oldKey, old);
    }
    let iter: AsyncIterator<Buffer> | null = null;
    // Opened lazily: the first next() call awaits the store's open().
    const opened = this.blobs.open(digest);
    const lazy: AsyncIterator<Buffer> = {
      next: async () => {
        if (!iter) {
          const it = await opened;
          if (!it) throw new NotFoundError(`blob ${digest.toString('hex')}`, { digest: digest.toString('hex') });
          iter = it[Symbol.asyncIterator]();
        }
        return iter.next();
      },
      return: async () => {
        if (!iter) { opened.catch(() => undefined); return { done: true, value: undefined }; }
        return (await iter.return?.()) ?? { done: true, value: undefined };
      },
    };
    const pump: Pump = { iter: lazy, nextIndex: 0, target: 0, running: false, done: false, waiters: new Map(), pending: [], pendingBytes: 0 };
    this.pumps.set(k, pump);
    return pump;
  }

  private async runPump(p: Pump, idx: BlobIndex, digest: Digest): Promise<void> {
    if (p.running || p.done) return;
    p.running = true;
    try {
      while (!p.done && p.nextIndex < idx.chunks.length && (p.nextIndex <= p.target || p.waiters.size)) {
        const r = await p.iter.next();
        if (r.done) { p.done = true; break; }
        p.pending.push(r.value);
        p.pendingBytes += r.value.length;
        this.takeChunks(p, idx, digest);
      }
      if (p.nextIndex >= idx.chunks.length) p.done = true;
    } catch (err) {
      p.done = true;
      for (const w of p.waiters.values()) w.reject(err);
      p.waiters.clear();
    } finally {
      p.running = false;
      if (p.done) this.endPump(digest.toString('latin1'), p);
    }
  }

  /** Cuts whole chunks off the bytes the stream produced, caching them and waking waiters. */
  private takeChunks(p: Pump, idx: BlobIndex, digest: Digest): void {
    while (p.nextIndex < idx.chunks.length) {
      const ref = idx.chunks[p.nextIndex]!;
      if (p.pendingBytes < ref.size) return;
      let c: Buffer;
      if (p.pending[0]!.length === ref.size) c = p.pending.shift()!;
      else {
        const all = p.pending.length === 1 ? p.pending[0]! : Buffer.concat(p.pending, p.pendingBytes);
        c = Buffer.from(all.subarray(0, ref.size));
        p.pending = all.length > ref.size ? [all.subarray(ref.size)] : [];
      }
      p.pendingBytes -= ref.size;
      this.chunks.set(ref.digest.toString('latin1'), c);
      const w = p.waiters.get(p.nextIndex);
      if (w) { p.waiters.delete(p.nextIndex); w.resolve(c); }
      p.nextIndex++;
    }
    if (p.pendingBytes) throw new CorruptionError(`blob ${digest.toString('hex')} is longer than its chunk index says`);
  }

  private stopPump(k: string, s: Stream): void {
    if (s.pump) this.endPump(k, s.pump);
    s.pump = undefined;
  }

  /** Ends a stream; chunks still awaited from it are fetched on their own. */
  private endPump(k: string, p: Pump): void {
    if (this.pumps.get(k) === p) this.pumps.delete(k);
    p.done = true;
    void p.iter.return?.().catch(() => undefined);
    for (const [i, w] of p.waiters) this.fetchFor(i, w, k);
    p.waiters.clear();
  }

  private fetchFor(i: number, w: { resolve(b: Buffer): void; reject(e: unknown): void }, k: string): void {
    const idx = this.indexes.get(k);
    if (!idx) { w.reject(new NotFoundError('blob index')); return; }
    this.fetch(idx, i, Buffer.from(k, 'latin1')).then(w.resolve, w.reject);
  }

  private async fetch(idx: BlobIndex, i: number, blob: Digest): Promise<Buffer> {
    const ref = idx.chunks[i]!;
    const c = await this.blobs.read(blob, idx.offsets[i]!, ref.size);
    if (!c) throw new NotFoundError(`blob ${blob.toString('hex')}`, { digest: blob.toString('hex') });
    if (c.length !== ref.size) throw new CorruptionError(`blob ${blob.toString('hex')} is shorter than its chunk index says`, { blob: blob.toString('hex') });
    this.chunks.set(ref.digest.toString('latin1'), c);
    return c;
  }
}
