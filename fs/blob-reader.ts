// Reads file contents for the mount chunk by chunk: only the chunks a request overlaps are
// fetched (BlobService.read of exactly one chunk's range: the store locates and verifies it),
// cached, and copied straight into the kernel's buffer; sequential readers get the next chunks
// fetched ahead of them, several at a time.
import type { BlobService } from '../store/castore/blob-service.js';
import type { ChunkRef, Digest } from '../store/castore/nodes.js';
import { CorruptionError, NotFoundError } from '../store/errors.js';
import { Lru, WeightedLru } from './lru.js';

interface BlobIndex { size: number; chunks: ChunkRef[]; offsets: number[] }

/** Where a sequential reader is: furthest end read, read-ahead window, fetched-ahead point. */
interface Stream { next: number; window: number; aheadTo: number }

const NEAR_BEHIND = 16 << 20;
const NEAR_AHEAD = 1 << 20;

export interface BlobReaderOptions {
  /** Bytes of verified chunks kept in memory (default 256 MiB). */
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

  constructor(private readonly blobs: BlobService, opts: BlobReaderOptions = {}) {
    this.chunks = new WeightedLru(opts.cacheBytes ?? 256 << 20, (b) => b.length + 64);
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
    const parts: Promise<Buffer>[] = [];
    for (let i = first; i <= last; i++) parts.push(this.chunk(idx, i, digest));
    this.readAhead(digest, idx, pos, end, last);
    let copied = 0;
    for (let i = first; i <= last; i++) {
      const c = await parts[i - first]!;
      const s = idx.offsets[i]!;
      copied += c.copy(dest, s + Math.max(0, pos - s) - pos, Math.max(0, pos - s), Math.min(c.length, end - s));
    }
    return copied;
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
      s.next = end;
      s.window = 0;
      s.aheadTo = end;
    }
    if (!s.window) return;
    const target = Math.min(idx.size, s.next + s.window);
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
      p = this.fetch(idx, i, blob).finally(() => this.fetching.delete(k));
      this.fetching.set(k, p);
    }
    return p;
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

function chunkAt(offsets: number[], pos: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
