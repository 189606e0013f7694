// BlobService over a Kv: chunks under 'c'+digest, each blob's chunk index under 'b'+digest.
import { Packr } from 'msgpackr';
import { CorruptionError } from '../errors.js';
import { Blake3, blake3 } from '../hash/blake3.js';
import { KEY, key, type Kv, type KvOp } from '../kv/kv.js';
import type { BlobService, BlobWriter } from './blob-service.js';
import { findBoundary, MAX_CHUNK } from './chunker.js';
import type { BlobStat, ChunkRef, Digest } from './nodes.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });
const FLUSH_BYTES = 8 << 20;
const READ_AHEAD = 8;

interface BlobIndex extends BlobStat { offsets: number[] }

/** A small LRU map (insertion order of Map gives recency). */
class Lru<V> {
  private readonly map = new Map<string, V>();
  private weight = 0;
  constructor(private readonly maxWeight: number, private readonly weigh: (v: V) => number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) { this.map.delete(k); this.map.set(k, v); }
    return v;
  }
  set(k: string, v: V): void {
    if (this.map.has(k)) return;
    this.map.set(k, v);
    this.weight += this.weigh(v);
    for (const [old, ov] of this.map) {
      if (this.weight <= this.maxWeight) break;
      this.map.delete(old);
      this.weight -= this.weigh(ov);
    }
  }
}

export class KvBlobService implements BlobService {
  private readonly indexCache = new Lru<BlobIndex>(4096, () => 1);
  private readonly chunkCache = new Lru<Buffer>(32 << 20, (b) => b.length);

  constructor(private readonly kv: Kv) {}

  async stat(digest: Digest): Promise<BlobStat | null> {
    const idx = await this.index(digest);
    return idx ? { size: idx.size, chunks: idx.chunks } : null;
  }

  async read(digest: Digest, offset: number, length: number): Promise<Buffer | null> {
    const idx = await this.index(digest);
    if (!idx) return null;
    const end = Math.min(idx.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    const first = chunkAt(idx.offsets, offset);
    const parts: Buffer[] = [];
    for (let i = first; i < idx.chunks.length && idx.offsets[i]! < end; i++) {
      const c = await this.chunk(idx.chunks[i]!.digest, digest);
      const s = idx.offsets[i]!;
      parts.push(c.subarray(Math.max(0, offset - s), Math.min(c.length, end - s)));
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async open(digest: Digest): Promise<AsyncIterable<Buffer> | null> {
    const idx = await this.index(digest);
    if (!idx) return null;
    return this.stream(idx, digest);
  }

  private async *stream(idx: BlobIndex, digest: Digest): AsyncIterable<Buffer> {
    for (let i = 0; i < idx.chunks.length; i += READ_AHEAD) {
      const refs = idx.chunks.slice(i, i + READ_AHEAD);
      const values = await this.kv.getMany(refs.map((r) => key(KEY.chunk, r.digest)));
      for (let j = 0; j < refs.length; j++) yield checkChunk(values[j] ?? null, refs[j]!.digest, digest);
    }
  }

  async hasChunk(digest: Digest): Promise<boolean> {
    return this.kv.has(key(KEY.chunk, digest));
  }

  async readChunk(digest: Digest): Promise<Buffer | null> {
    return this.kv.get(key(KEY.chunk, digest));
  }

  writer(): BlobWriter {
    return new KvBlobWriter(this.kv);
  }

  private async index(digest: Digest): Promise<BlobIndex | null> {
    const k = digest.toString('latin1');
    const cached = this.indexCache.get(k);
    if (cached) return cached;
    const raw = await this.kv.get(key(KEY.blob, digest));
    if (!raw) return null;
    const idx = decodeIndex(raw, digest);
    this.indexCache.set(k, idx);
    return idx;
  }

  private async chunk(d: Digest, blob: Digest): Promise<Buffer> {
    const k = d.toString('latin1');
    const cached = this.chunkCache.get(k);
    if (cached) return cached;
    const c = checkChunk(await this.kv.get(key(KEY.chunk, d)), d, blob);
    this.chunkCache.set(k, c);
    return c;
  }
}

function checkChunk(c: Buffer | null, d: Digest, blob: Digest): Buffer {
  if (!c) throw new CorruptionError(`chunk ${d.toString('hex')} of blob ${blob.toString('hex')} is missing`, { chunk: d.toString('hex'), blob: blob.toString('hex') });
  if (!blake3(c).equals(d)) throw new CorruptionError(`chunk ${d.toString('hex')} does not match its digest`, { chunk: d.toString('hex') });
  return c;
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

export function encodeIndex(chunks: ChunkRef[]): Buffer {
  return packr.pack(chunks.map((c) => [c.digest, c.size]));
}

function decodeIndex(raw: Buffer, digest: Digest): BlobIndex {
  let list: unknown;
  try { list = packr.unpack(raw); } catch { list = null; }
  if (!Array.isArray(list)) throw new CorruptionError(`chunk index of blob ${digest.toString('hex')} is malformed`);
  const chunks: ChunkRef[] = [];
  const offsets: number[] = [];
  let size = 0;
  for (const t of list) {
    if (!Array.isArray(t) || !(t[0] instanceof Uint8Array) || typeof t[1] !== 'number') throw new CorruptionError(`chunk index of blob ${digest.toString('hex')} is malformed`);
    offsets.push(size);
    chunks.push({ digest: Buffer.from(t[0]), size: t[1] });
    size += t[1];
  }
  return { size, chunks, offsets };
}

/** Chunks the stream as it arrives; chunk writes go out in batches, the index last. */
class KvBlobWriter implements BlobWriter {
  private pending: Buffer = Buffer.alloc(0);
  private readonly whole = new Blake3();
  private readonly chunks: ChunkRef[] = [];
  private ops: KvOp[] = [];
  private opBytes = 0;
  private readonly queued = new Set<string>();
  private size = 0;
  private closed = false;

  constructor(private readonly kv: Kv) {}

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('blob writer is closed');
    if (data.length === 0) return;
    this.whole.update(data);
    this.size += data.length;
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : Buffer.from(data);
    let start = 0;
    while (this.pending.length - start >= MAX_CHUNK) {
      const end = findBoundary(this.pending, start, this.pending.length);
      await this.emit(this.pending.subarray(start, end));
      start = end;
    }
    // Copy the tail: the caller may reuse `data`.
    this.pending = Buffer.from(this.pending.subarray(start));
    if (this.opBytes >= FLUSH_BYTES) await this.flush();
  }

  async close(): Promise<{ digest: Digest; size: number }> {
    if (this.closed) throw new Error('blob writer is closed');
    this.closed = true;
    let start = 0;
    while (start < this.pending.length) {
      const end = findBoundary(this.pending, start, this.pending.length);
      await this.emit(this.pending.subarray(start, end));
      start = end;
    }
    const digest = this.whole.digest();
    this.ops.push({ type: 'put', key: key(KEY.blob, digest), value: encodeIndex(this.chunks) });
    await this.flush();
    return { digest, size: this.size };
  }

  private async emit(chunk: Buffer): Promise<void> {
    const d = blake3(chunk);
    this.chunks.push({ digest: d, size: chunk.length });
    const k = d.toString('latin1');
    if (this.queued.has(k)) return;
    this.queued.add(k);
    const ck = key(KEY.chunk, d);
    if (await this.kv.has(ck)) return;
    this.ops.push({ type: 'put', key: ck, value: Buffer.from(chunk) });
    this.opBytes += chunk.length;
  }

  private async flush(): Promise<void> {
    const ops = this.ops;
    this.ops = [];
    this.opBytes = 0;
    await this.kv.batch(ops);
  }
}
