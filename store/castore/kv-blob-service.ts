// BlobService over a Kv and a ChunkStore. Each blob has an index under 'b'+digest listing its
// chunks with their locations, so reading needs one index lookup; blobs up to INLINE_MAX bytes
// keep their bytes in the index itself (one lookup, no chunk).
import { CorruptionError } from '../errors.js';
import { Blake3, blake3, blake3Matches } from '../hash/blake3.js';
import { KEY, key, type Kv, type KvOp } from '../kv/kv.js';
import type { BlobLayout, BlobService, BlobWriter } from './blob-service.js';
import type { ChunkRead, ChunkStore } from './chunk-store.js';
import { MAX_CHUNK, MIN_CHUNK } from './chunk-limits.js';
import type { BlobStat, ChunkRef, Digest } from './nodes.js';
import { chunkAt } from './chunk-offsets.js';
import { sharedBuffer } from './shared-segments.js';
import { checksOnWorkers } from '../hash/verify-policy.js';
import type { Piece } from '../hash/verify-pool.js';
import type { ChunkCuts, ChunkingStream } from './chunking-pool.js';

// Writers' and workers' modules are loaded when first needed: a reader (store dump, cat) then
// never loads the chunker (and its WebAssembly), the chunking pool or the verify pool.
type ChunkerModule = typeof import('./chunker.js');
let chunker: ChunkerModule | undefined;
async function loadChunker(): Promise<ChunkerModule> {
  return (chunker ??= await import('./chunker.js'));
}
async function verifyPool(): Promise<typeof import('../hash/verify-pool.js').VerifyPool> {
  return (await import('../hash/verify-pool.js')).VerifyPool;
}

const FLUSH_BYTES = 8 << 20;
/** A blob stream reads about this many bytes of chunks at once (one pread per adjacent run), the next group while the last is consumed. */
const READ_GROUP = 8 << 20;
/** Blobs from this size on are read further ahead, into reused ring buffers, and checked on worker threads when those are worth it. */
const OFFLOAD_MIN = 1 << 20;
/** Groups read (and checked, on workers) ahead of the one being consumed, for such blobs. */
const AHEAD = 3;
/** At most this many chunk digests are remembered as checked (about 64 GiB of chunks). */
const CHECKED_MAX = 1 << 20;
/**
 * Group size when chunks are checked on the reading thread: the next group's read needs only to
 * keep ahead of one thread's hashing, and smaller rings touch less fresh memory (the 8 MiB rings
 * of a dump's two open large files cost ~16k page faults). Each group's bytes are copied twice
 * (page cache → ring on a libuv thread, ring → socket or pipe here) and a group that fits a core's
 * cache is copied faster: serving a 200 MiB NAR to curl cost the daemon 190-196 ms of CPU with
 * 2 MiB groups, 144-182 with 512 KiB (1 MiB 160-190; 256 KiB, more pieces, 200-214).
 */
const READ_GROUP_HERE = 512 << 10;
/** Groups read ahead of the one being consumed when checked here. */
const AHEAD_HERE = 3;
/** A transient stream's read buffer holds a whole group: READ_GROUP bytes plus up to one chunk more. */
const RING_BUFFER = READ_GROUP + MAX_CHUNK;
const RING_BUFFER_HERE = READ_GROUP_HERE + MAX_CHUNK;
/** Free ring buffers kept for reuse (two streams' rings at once: the NAR dump opens one file ahead). */
const RING_BUFFERS_KEPT = 2 * (AHEAD + 1);
export const INLINE_MAX = 8192;
/** Blobs stored in groups (putSmall) are inline up to this size only; larger ones go to the pack. */
const GROUP_INLINE_MAX = 1024;
/** A writer whose first write is at least this large, handed over in shared memory, is cut and hashed on a worker. */
const CHUNK_ON_WORKER_MIN = 1 << 20;
/** Pieces a worker-chunked writer has posted and not yet taken the chunks of. */
const PIECES_IN_FLIGHT = 3;

interface BlobIndex {
  size: number;
  chunks: ChunkRead[];
  offsets: number[];
  /** The whole contents, for inline blobs. */
  inline: Buffer | null;
}

/** A small LRU map (Map keeps insertion order, so the first key is the oldest). */
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
  private readonly indexCache = new Lru<BlobIndex>(16 << 20, (i) => 64 + i.chunks.length * 64 + (i.inline?.length ?? 0));
  private readonly chunkCache = new Lru<Buffer>(32 << 20, (b) => b.length);
  /**
   * Digests of chunks this process has read and found right. A daemon serving the same paths
   * again (a binary cache, the FUSE mount's readers) then hashes each chunk once, not per read;
   * damage done to a pack file after that check goes unnoticed here (clients check narHash).
   */
  private readonly checked = new Set<string>();
  /**
   * Shared read buffers of ended transient streams. Fresh memory for every blob cost page faults
   * and, through V8's external memory accounting, a major GC every few requests of a cache server.
   */
  private readonly freeRingBuffers: Buffer[] = [];
  private readonly freeRingBuffersHere: Buffer[] = [];

  constructor(private readonly kv: Kv, private readonly chunks: ChunkStore) {}

  async stat(digest: Digest): Promise<BlobStat | null> {
    const idx = await this.index(digest);
    return idx ? { size: idx.size, chunks: idx.chunks.map((c) => ({ digest: c.digest, size: c.size })) } : null;
  }

  async read(digest: Digest, offset: number, length: number): Promise<Buffer | null> {
    const idx = await this.index(digest);
    if (!idx) return null;
    const end = Math.min(idx.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    if (idx.inline) return idx.inline.subarray(offset, end);
    const parts: Buffer[] = [];
    for (let i = chunkAt(idx.offsets, offset); i < idx.chunks.length && idx.offsets[i]! < end; i++) {
      const c = await this.chunk(idx.chunks[i]!, digest);
      const s = idx.offsets[i]!;
      parts.push(c.subarray(Math.max(0, offset - s), Math.min(c.length, end - s)));
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  // Indexes come in one getMany; inline blobs are answered from them (verified by decodeIndex) and
  // chunked ones are read; both kept in the index cache.
  async readMany(digests: Digest[], opts: { unchecked?: boolean } = {}): Promise<(Buffer | null)[]> {
    if (opts.unchecked === true) return this.readManyUnchecked(digests);
    const out: (Buffer | null)[] = new Array<Buffer | null>(digests.length).fill(null);
    const chunked: number[] = [];
    const lookup: number[] = [];
    digests.forEach((d, i) => {
      const idx = this.indexCache.get(d.toString('latin1'));
      if (!idx) lookup.push(i);
      else if (idx.inline) out[i] = idx.inline;
      else chunked.push(i);
    });
    if (lookup.length) {
      const raws = await this.kv.getMany(lookup.map((i) => key(KEY.blob, digests[i]!)));
      lookup.forEach((i, j) => {
        const raw = raws[j];
        if (!raw) return;
        const idx = decodeIndex(raw, digests[i]!);
        if (idx.inline) { out[i] = idx.inline; return; }
        this.indexCache.set(digests[i]!.toString('latin1'), idx);
        chunked.push(i);
      });
    }
    await Promise.all(chunked.map(async (i) => { out[i] = await this.read(digests[i]!, 0, Number.MAX_SAFE_INTEGER); }));
    return out;
  }

  /**
   * A bulk reader's blobs (a NAR dump, which checks each whole blob, and so its chunks, itself),
   * read once each: every index fetched in one getMany (none looked up in the cache, which cost
   * a string per blob, nor put there), inline blobs answered from it, the others' chunk lists
   * parsed straight into one readAt into one buffer (no index object per blob): the files of a
   * directory, stored together, lie next to each other in a pack and come back with one pread.
   */
  private async readManyUnchecked(digests: Digest[]): Promise<(Buffer | null)[]> {
    const n = digests.length;
    const keys = new Array<Buffer>(n);
    for (let i = 0; i < n; i++) keys[i] = key(KEY.blob, digests[i]!);
    const raws = await this.kv.getMany(keys);
    const out = new Array<Buffer | null>(n).fill(null);
    /** Size of each chunked blob, -1 for the others. */
    const sizes = new Float64Array(n).fill(-1);
    const chunks: ChunkRead[] = [];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const raw = raws[i];
      if (!raw) continue;
      if (raw[0] === INLINE_TAG) out[i] = raw.subarray(1);
      else total += sizes[i] = chunkList(raw, digests[i]!, chunks, null);
    }
    if (chunks.length === 0) return out;
    const into = Buffer.allocUnsafe(total);
    const parts = await this.chunks.readAt(chunks, into);
    // readAt fills `into` in order when it can; otherwise its pieces are copied there.
    let at = 0;
    for (const p of parts) {
      if (p.buffer !== into.buffer || p.byteOffset !== into.byteOffset + at) into.set(p, at);
      at += p.length;
    }
    at = 0;
    for (let i = 0; i < n; i++) if (sizes[i]! >= 0) out[i] = into.subarray(at, (at += sizes[i]!));
    return out;
  }

  async open(digest: Digest, opts: { transient?: boolean } = {}): Promise<AsyncIterable<Buffer> | null> {
    const idx = await this.index(digest);
    if (!idx) return null;
    return this.stream(idx, digest, opts.transient === true);
  }

  private async *stream(idx: BlobIndex, digest: Digest, transient: boolean): AsyncIterable<Buffer> {
    if (idx.inline) {
      if (idx.size) yield idx.inline;
      return;
    }
    // Large blobs are read ahead, AHEAD groups beyond the one being consumed, and their chunks
    // checked on the verify pool's workers (read into shared memory) when those are worth it
    // (checksOnWorkers); else AHEAD_HERE smaller groups ahead, checked here. Smaller blobs: one
    // group ahead, checked here.
    const large = idx.size >= OFFLOAD_MIN;
    const offload = large && checksOnWorkers();
    const ahead = offload ? AHEAD : large ? AHEAD_HERE : 1;
    const groups = chunkGroups(idx.chunks, offload ? READ_GROUP : READ_GROUP_HERE);
    // Transient: a ring of ahead + 1 buffers; one is refilled only after the pieces read into it
    // have all been taken (the consumer is done with a piece when it asks for the next).
    const bufs: Buffer[] = [];
    if (transient) for (let i = 0; i <= ahead && i < groups.length; i++) bufs.push(large ? this.takeRingBuffer(offload) : Buffer.allocUnsafe(Math.min(idx.size, RING_BUFFER_HERE)));
    const readGroup = async (g: number): Promise<Buffer[]> => {
      const [first, end] = groups[g]!;
      const chunks = idx.chunks.slice(first, end);
      // Chunks all checked before (a daemon serving a path again): plain memory, nothing to post.
      const unchecked = chunks.some((c) => !this.checked.has(c.digest.toString('latin1')));
      const size = chunks.reduce((a, c) => a + c.size, 0);
      const buf = transient ? bufs[g % bufs.length]! : offload && unchecked ? sharedBuffer(size) : Buffer.allocUnsafe(size);
      const values = await this.chunks.readAt(chunks, buf);
      // readAt fills `buf` in order when it fits; a value elsewhere (it did not) is checked here.
      let at = 0;
      let inBuf = 0;
      const pieces: Piece[] = [];
      values.forEach((v, j) => {
        const d = chunks[j]!.digest;
        if (v.buffer !== buf.buffer || v.byteOffset !== buf.byteOffset + at) this.check(v, d, digest);
        else if ((inBuf++, !this.checked.has(d.toString('latin1')))) pieces.push({ offset: at, length: v.length, digest: d });
        at += v.length;
      });
      const bad = pieces.length === 0 ? -1 : offload ? await (await verifyPool()).shared().check(buf, pieces) : pieces.findIndex((p) => !blake3Matches(buf.subarray(p.offset, p.offset + p.length), p.digest));
      if (bad >= 0) checkChunk(buf.subarray(pieces[bad]!.offset, pieces[bad]!.offset + pieces[bad]!.length), pieces[bad]!.digest, digest);
      for (const p of pieces) this.markChecked(p.digest);
      // All in `buf`, in order: one piece (a socket or file then takes it in one write, not one per chunk).
      return inBuf === values.length ? [buf.subarray(0, at)] : values;
    };
    const pending: Promise<Buffer[]>[] = [];
    // Awaited in order later; a failure of one read ahead is never an unhandled rejection meanwhile.
    const start = (g: number) => { const p = readGroup(g); p.catch(() => undefined); pending.push(p); };
    for (let g = 0; g < ahead && g < groups.length; g++) start(g);
    try {
      for (let g = 0; g < groups.length; g++) {
        const values = await pending.shift()!;
        if (g + ahead < groups.length) start(g + ahead);
        for (const v of values) yield v;
      }
    } finally {
      // Reads still running (the consumer stopped early) may yet fill them: those are not reused.
      if (large && transient && pending.length === 0) for (const b of bufs) this.returnRingBuffer(b, offload);
    }
  }

  // An inline blob is its own single chunk (stat lists it so): answer for it from the index.
  async hasChunk(digest: Digest): Promise<boolean> {
    return (await this.chunks.locate(digest)) !== null || (await this.index(digest))?.inline != null;
  }

  async readChunk(digest: Digest): Promise<Buffer | null> {
    return (await this.chunks.get(digest)) ?? (await this.index(digest))?.inline ?? null;
  }

  writer(opts: { hashedByCaller?: boolean; size?: number } = {}): BlobWriter {
    return new KvBlobWriter(this.chunks, this.kv, opts.hashedByCaller === true, opts.size);
  }

  // One getMany for the blobs already stored (not written again); the rest in one pack write and
  // one batch. Only the smallest blobs are inline: LevelDB copies a value several times (batch,
  // log, memtable, table) and reads it back through a copy too, where a pack write takes the
  // bytes as they are and a NAR dump reads a directory's files back with one pread.
  async putSmall(blobs: Buffer[], known?: Digest[]): Promise<Digest[]> {
    const digests = known && known.length === blobs.length ? known : blobs.map((b) => blake3(b));
    const keys = digests.map((d) => key(KEY.blob, d));
    const stored = await this.kv.getMany(keys);
    const ops: KvOp[] = [];
    const seen = new Set<string>();
    const packed: number[] = [];
    blobs.forEach((b, i) => {
      const k = keys[i]!.toString('latin1');
      if (stored[i] || seen.has(k)) return;
      seen.add(k);
      if (b.length <= GROUP_INLINE_MAX) ops.push({ type: 'put', key: keys[i]!, value: encodeIndex(null, b) });
      else packed.push(i);
    });
    if (packed.length === 0) {
      if (ops.length) await this.kv.batch(ops);
      return digests;
    }
    await this.putChunkedTogether(packed.map((i) => blobs[i]!), packed.map((i) => digests[i]!), packed.map((i) => keys[i]!), ops, known !== undefined);
    return digests;
  }

  /**
   * Blobs stored together: their chunks looked up at once and the new ones written in one pack
   * write, with every blob index (and `ops`) in the same batch. A writer per blob cost a lookup
   * round trip, a pack write and a batch per file of a many-file import.
   */
  private async putChunkedTogether(blobs: Buffer[], digests: Digest[], keys: Buffer[], ops: KvOp[], given: boolean): Promise<void> {
    const pieces = await cutTogether(blobs, digests, given);
    // A blob of one chunk is not looked up: it was not stored as a blob (putSmall asked), and
    // finding it as some other blob's chunk is rare enough that writing it again costs less.
    const located = await Promise.all(pieces.map((p) => (p.single ? null : this.chunks.locate(p.digest))));
    const newAt = new Map<string, number>();
    const toWrite: { digest: Digest; data: Buffer }[] = [];
    pieces.forEach((p, j) => {
      const k = p.digest.toString('latin1');
      if (located[j] || newAt.has(k)) return;
      newAt.set(k, toWrite.length);
      toWrite.push({ digest: p.digest, data: p.data });
    });
    await this.chunks.put(toWrite, (locations) => {
      const refs: ChunkRead[][] = blobs.map(() => []);
      pieces.forEach((p, j) => {
        const location = located[j] ?? locations[newAt.get(p.digest.toString('latin1'))!]!;
        refs[p.blob]!.push({ digest: p.digest, size: p.data.length, location });
      });
      return [...ops, ...refs.map((r, blob): KvOp => ({ type: 'put', key: keys[blob]!, value: encodeIndex(r, null) }))];
    });
  }

  async layout(digest: Digest): Promise<BlobLayout | null> {
    const idx = await this.index(digest);
    if (!idx) return null;
    if (idx.inline) return { size: idx.size, inline: idx.inline, chunks: [] };
    const fileOf = this.chunks.fileOf?.bind(this.chunks);
    if (!fileOf) return null;
    const chunks: BlobLayout['chunks'] = [];
    for (const c of idx.chunks) {
      const f = fileOf(c.location);
      if (!f) return null;
      chunks.push({ digest: c.digest, size: c.size, path: f.path, offset: f.offset });
    }
    return { size: idx.size, inline: null, chunks };
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

  /** A shared buffer for a transient stream's ring (of the size for `offload`), from the free list when there is one. */
  private takeRingBuffer(offload: boolean): Buffer {
    return (offload ? this.freeRingBuffers : this.freeRingBuffersHere).pop() ?? sharedBuffer(offload ? RING_BUFFER : RING_BUFFER_HERE);
  }

  private returnRingBuffer(b: Buffer, offload: boolean): void {
    const free = offload ? this.freeRingBuffers : this.freeRingBuffersHere;
    if (free.length < RING_BUFFERS_KEPT) free.push(b);
  }

  /** `c` if its BLAKE3 is `d` (checked once per process: pack files are append-only), else CorruptionError. */
  private check(c: Buffer, d: Digest, blob: Digest): Buffer {
    const k = d.toString('latin1');
    if (this.checked.has(k)) return c;
    checkChunk(c, d, blob);
    this.markChecked(d);
    return c;
  }

  private markChecked(d: Digest): void {
    // Bounded (~100 MB of keys at most): forgetting only means checking again.
    if (this.checked.size >= CHECKED_MAX) this.checked.clear();
    this.checked.add(d.toString('latin1'));
  }

  private async chunk(c: ChunkRead, blob: Digest): Promise<Buffer> {
    const k = c.digest.toString('latin1');
    const cached = this.chunkCache.get(k);
    if (cached) return cached;
    const [data] = await this.chunks.readAt([c]);
    const checked = this.check(data!, c.digest, blob);
    this.chunkCache.set(k, checked);
    return checked;
  }
}

/**
 * The chunks of blobs stored together. A blob no longer than MIN_CHUNK is one chunk, whose
 * digest is the blob's: neither cut nor hashed again. Given digests of larger blobs are checked
 * (a wrong one would index the bytes under another blob's name: chunks are checked on read,
 * whole blobs not); a one-chunk blob's digest is its chunk's, so every read checks it.
 */
async function cutTogether(blobs: Buffer[], digests: Digest[], given: boolean): Promise<{ blob: number; data: Buffer; digest: Digest; single: boolean }[]> {
  const pieces: { blob: number; data: Buffer; digest: Digest; single: boolean }[] = [];
  for (let blob = 0; blob < blobs.length; blob++) {
    const b = blobs[blob]!;
    if (b.length <= MIN_CHUNK) { pieces.push({ blob, data: b, digest: digests[blob]!, single: true }); continue; }
    if (given && !blake3(b).equals(digests[blob]!)) throw new Error('blob digest given for putSmall is not the BLAKE3 of its bytes');
    const { cutPoints } = chunker ?? (await loadChunker());
    let start = 0;
    for (const end of cutPoints(b, 0, b.length, true)) {
      // Views of the caller's buffers, which stay unchanged until the blobs are stored.
      const data = b.subarray(start, end);
      pieces.push({ blob, data, digest: blake3(data), single: false });
      start = end;
    }
  }
  return pieces;
}

/** Runs of whole chunks of about `size` bytes (a chunk larger than that alone), as [start, end) indexes. */
function chunkGroups(chunks: ChunkRead[], size: number): [number, number][] {
  const groups: [number, number][] = [];
  for (let i = 0; i < chunks.length;) {
    let j = i;
    let bytes = 0;
    while (j < chunks.length && (j === i || bytes + chunks[j]!.size <= size)) bytes += chunks[j++]!.size;
    groups.push([i, j]);
    i = j;
  }
  return groups;
}

function copyToShared(data: Uint8Array): Buffer {
  const b = sharedBuffer(data.length);
  b.set(data);
  return b;
}

function checkChunk(c: Buffer, d: Digest, blob: Digest): Buffer {
  if (!blake3Matches(c, d)) throw new CorruptionError(`chunk ${d.toString('hex')} of blob ${blob.toString('hex')} does not match its digest`, { chunk: d.toString('hex'), blob: blob.toString('hex') });
  return c;
}


// Index encoding (internal, hand-rolled: it is written once per blob on the import hot path):
//   0x69 'i' + contents                                   an inline blob
//   0x63 'c' + per chunk: digest(32) size(u32le) loclen(u8) location
const INLINE_TAG = 0x69;
const CHUNKS_TAG = 0x63;

function encodeIndex(chunks: ChunkRead[] | null, inline: Buffer | null): Buffer {
  if (inline) {
    const out = Buffer.allocUnsafe(1 + inline.length);
    out[0] = INLINE_TAG;
    inline.copy(out, 1);
    return out;
  }
  const out = Buffer.allocUnsafe(1 + chunks!.reduce((a, c) => a + 37 + c.location.length, 0));
  out[0] = CHUNKS_TAG;
  let o = 1;
  for (const c of chunks!) {
    if (c.location.length > 255) throw new Error('chunk location longer than 255 bytes');
    c.digest.copy(out, o);
    out.writeUInt32LE(c.size, o + 32);
    out[o + 36] = c.location.length;
    c.location.copy(out, o + 37);
    o += 37 + c.location.length;
  }
  return out;
}

/** `raw`, an index, decoded; an inline blob's bytes are checked against its digest. */
function decodeIndex(raw: Buffer, digest: Digest): BlobIndex {
  if (raw[0] === INLINE_TAG) {
    const inline = raw.subarray(1);
    if (!blake3Matches(inline, digest)) throw new CorruptionError(`inline blob ${digest.toString('hex')} does not match its digest`, { blob: digest.toString('hex') });
    return { size: inline.length, chunks: [{ digest, size: inline.length, location: Buffer.alloc(0) }], offsets: [0], inline };
  }
  const chunks: ChunkRead[] = [];
  const offsets: number[] = [];
  const size = chunkList(raw, digest, chunks, offsets);
  return { size, chunks, offsets, inline: null };
}

/** Appends the chunks of `raw`, a chunked blob's index, to `chunks` (and their offsets to `offsets`); the blob's size. */
function chunkList(raw: Buffer, digest: Digest, chunks: ChunkRead[], offsets: number[] | null): number {
  const bad = () => new CorruptionError(`chunk index of blob ${digest.toString('hex')} is malformed`, { blob: digest.toString('hex') });
  if (raw[0] !== CHUNKS_TAG) throw bad();
  let size = 0;
  for (let o = 1; o < raw.length;) {
    if (o + 37 > raw.length) throw bad();
    const len = raw[o + 36]!;
    if (o + 37 + len > raw.length) throw bad();
    const c = { digest: raw.subarray(o, o + 32), size: raw.readUInt32LE(o + 32), location: raw.subarray(o + 37, o + 37 + len) };
    offsets?.push(size);
    chunks.push(c);
    size += c.size;
    o += 37 + len;
  }
  return size;
}

/** Chunks the stream as it arrives; chunk writes go out in batches, the index last. */
/** A writer's stream as cut on a worker: the pieces still holding chunks not taken, and the queue of answers. */
interface OnWorker {
  stream: ChunkingStream;
  /** Pieces in stream order, from the one holding `taken` on. */
  pieces: { start: number; buf: Buffer }[];
  posted: number;
  /** Stream offset up to which chunks have been taken. */
  taken: number;
  /** Taking each answer's chunks, in order; the last one. */
  chain: Promise<void>;
  inFlight: Promise<void>[];
  whole: Buffer | null;
}

class KvBlobWriter implements BlobWriter {
  /** Set by the first write when the stream is cut on a worker; null when cut here. */
  private onWorker: OnWorker | null = null;
  private firstWrite = true;
  private pending: Buffer = Buffer.alloc(0);
  private readonly whole = new Blake3();
  /** Every chunk of the blob in order; locations are filled in as chunks are written or found. */
  private readonly refs: { digest: Digest; size: number; location: Buffer | null }[] = [];
  private toWrite: { digest: Digest; data: Buffer; ref: number }[] = [];
  private toWriteBytes = 0;
  private readonly seen = new Map<string, number>();
  /** Chunks cut from the stream, not yet hashed and looked up. */
  private cut: Buffer[] = [];
  private readonly cutSeen = new Set<string>();
  private size = 0;
  private closed = false;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: ChunkStore, private readonly kv: Kv, private readonly hashedByCaller = false, private readonly sizeHint?: number) {}

  async write(data: Uint8Array, owned = false): Promise<void> {
    if (this.closed) throw new Error('blob writer is closed');
    if (data.length === 0) return;
    if (this.firstWrite) {
      const toWorker = owned && data.buffer instanceof SharedArrayBuffer && (this.sizeHint ?? data.length) >= CHUNK_ON_WORKER_MIN;
      const pool = toWorker ? (await import('./chunking-pool.js')).ChunkingPool : null;
      this.firstWrite = false;
      if (pool) {
        const stream = pool.shared().open('chunks', !this.hashedByCaller);
        this.onWorker = { stream, pieces: [], posted: 0, taken: 0, chain: Promise.resolve(), inFlight: [], whole: null };
      }
    }
    if (this.onWorker) return this.writeOnWorker(this.onWorker, data, owned);
    const { cutPoints } = chunker ?? (await loadChunker());
    if (!this.hashedByCaller) this.whole.update(data);
    this.size += data.length;
    // Chunks are views of `buf` kept until flushed: a buffer the caller may reuse is copied once.
    const buf = owned ? Buffer.from(data.buffer, data.byteOffset, data.length) : Buffer.from(data);
    // The stream is pending ++ buf. Chunks are cut only where MAX_CHUNK bytes follow their start,
    // so a boundary depends on at most MAX_CHUNK bytes: those starting in the tail (shorter than
    // MAX_CHUNK) are found in tail ++ buf[0, MAX_CHUNK), and only that much is copied.
    const p = this.pending.length;
    let start = 0; // offset in pending ++ buf
    if (p > 0) {
      const joint = Buffer.concat([this.pending, buf.subarray(0, Math.min(buf.length, MAX_CHUNK))]);
      // Boundaries in `joint` count while MAX_CHUNK bytes of the whole stream follow their start.
      for (const end of cutPoints(joint, 0, joint.length, true)) {
        if (start >= p || p + buf.length - start < MAX_CHUNK) break;
        this.cut.push(joint.subarray(start, end));
        start = end;
      }
      if (start < p) {
        // Fewer than MAX_CHUNK bytes from `start` on: all of them are in `joint`.
        this.pending = joint.subarray(start);
        await this.emitCut();
        await this.maybeFlush();
        return;
      }
    }
    let s = start - p;
    for (const end of cutPoints(buf, s, buf.length, false)) {
      this.cut.push(buf.subarray(s, end));
      s = end;
    }
    // The tail stays a view of `buf`, which is ours (owned or copied above).
    this.pending = buf.subarray(s);
    await this.emitCut();
    await this.maybeFlush();
  }

  private async maybeFlush(): Promise<void> {
    if (this.toWriteBytes >= FLUSH_BYTES) {
      // One flush may run while the next batch is chunked; wait only for the one before it.
      await this.flushing;
      this.flushing = this.flush(() => []);
      this.flushing.catch(() => undefined);
    }
  }

  async close(given?: Digest): Promise<{ digest: Digest; size: number }> {
    if (this.closed) throw new Error('blob writer is closed');
    this.closed = true;
    if (this.hashedByCaller && !given) throw new Error('blob writer needs the digest computed by its caller');
    if (this.onWorker) return this.closeOnWorker(this.onWorker, given);
    const digest = this.hashedByCaller ? given! : this.whole.digest();
    const indexOp = (): KvOp => ({ type: 'put', key: key(KEY.blob, digest), value: this.indexValue() });
    if (this.refs.length === 0 && this.pending.length <= INLINE_MAX) {
      // A blob stored before is not written again (LevelDB would log the bytes once more).
      const k = key(KEY.blob, digest);
      if (!(await this.kv.has(k))) await this.store.put([], () => [{ type: 'put', key: k, value: encodeIndex(null, this.pending) }]);
      return { digest, size: this.size };
    }
    const { cutPoints } = chunker ?? (await loadChunker());
    let start = 0;
    for (const end of cutPoints(this.pending, 0, this.pending.length, true)) {
      this.cut.push(this.pending.subarray(start, end));
      start = end;
    }
    await this.emitCut();
    await this.flushing;
    await this.flush(() => [indexOp()]);
    return { digest, size: this.size };
  }

  abort(): void {
    this.closed = true;
    this.onWorker?.stream.drop();
  }

  private async writeOnWorker(w: OnWorker, data: Uint8Array, owned: boolean): Promise<void> {
    this.size += data.length;
    const buf = owned && data.buffer instanceof SharedArrayBuffer ? Buffer.from(data.buffer, data.byteOffset, data.length) : copyToShared(data);
    w.pieces.push({ start: w.posted, buf });
    w.posted += buf.length;
    this.queueCuts(w, w.stream.push(buf, false));
    while (w.inFlight.length >= PIECES_IN_FLIGHT) await w.inFlight.shift();
  }

  /** Takes the answer's chunks after the previous answer's (a failure fails every later step too). */
  private queueCuts(w: OnWorker, answer: Promise<ChunkCuts>): void {
    answer.catch(() => undefined);
    const step = w.chain.then(() => answer).then((cuts) => this.takeCuts(w, cuts));
    step.catch(() => undefined);
    w.chain = step;
    w.inFlight.push(step);
  }

  private async takeCuts(w: OnWorker, cuts: ChunkCuts): Promise<void> {
    const digests: Digest[] = [];
    for (let i = 0; i < cuts.sizes.length; i++) {
      const end = w.taken + cuts.sizes[i]!;
      this.cut.push(this.streamBytes(w, w.taken, end));
      digests.push(cuts.digests.subarray(32 * i, 32 * i + 32));
      w.taken = end;
    }
    while (w.pieces.length > 0 && w.pieces[0]!.start + w.pieces[0]!.buf.length <= w.taken) w.pieces.shift();
    if (cuts.whole) w.whole = cuts.whole;
    await this.emitCut(digests);
    await this.maybeFlush();
  }

  /** Stream bytes [from, to): a view of one piece, or a copy joining the pieces it spans. */
  private streamBytes(w: OnWorker, from: number, to: number): Buffer {
    const parts: Buffer[] = [];
    for (const p of w.pieces) {
      const end = p.start + p.buf.length;
      if (end <= from || p.start >= to) continue;
      parts.push(p.buf.subarray(Math.max(0, from - p.start), Math.min(p.buf.length, to - p.start)));
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private async closeOnWorker(w: OnWorker, given?: Digest): Promise<{ digest: Digest; size: number }> {
    this.queueCuts(w, w.stream.push(null, true));
    await w.chain;
    w.inFlight = [];
    const digest = this.hashedByCaller ? given! : w.whole!;
    await this.flushing;
    await this.flush(() => [{ type: 'put', key: key(KEY.blob, digest), value: this.indexValue() }]);
    return { digest, size: this.size };
  }

  private indexValue(): Buffer {
    return encodeIndex(this.refs.map((r) => ({ digest: r.digest, size: r.size, location: r.location! })), null);
  }

  /**
   * Hashes the chunks cut so far and looks all of them up at once (one batched lookup for a
   * write's ~60 chunks rather than one round trip each), then records them in order.
   */
  private async emitCut(given?: Digest[]): Promise<void> {
    const chunks = this.cut;
    if (chunks.length === 0) return;
    this.cut = [];
    const digests = given ?? chunks.map((c) => blake3(c));
    const firstSeen = digests.map((d) => {
      const k = d.toString('latin1');
      if (this.seen.has(k) || this.cutSeen.has(k)) return false;
      this.cutSeen.add(k);
      return true;
    });
    this.cutSeen.clear();
    const located = await Promise.all(digests.map((d, i) => (firstSeen[i] ? this.store.locate(d) : null)));
    chunks.forEach((chunk, i) => this.record(chunk, digests[i]!, located[i] ?? null));
  }

  private record(chunk: Buffer, d: Digest, loc: Buffer | null): void {
    const k = d.toString('latin1');
    const ref = this.refs.length;
    this.refs.push({ digest: d, size: chunk.length, location: null });
    const earlier = this.seen.get(k);
    if (earlier !== undefined) {
      // Same chunk twice in one blob: share the earlier entry's location once known.
      this.refs[ref]!.location = this.refs[earlier]!.location;
      if (!this.refs[ref]!.location) this.toWrite.push({ digest: d, data: Buffer.alloc(0), ref: -ref - 1 });
      return;
    }
    this.seen.set(k, ref);
    if (loc) { this.refs[ref]!.location = loc; return; }
    // `chunk` is a view of a buffer the writer owns, which is never mutated: no copy needed.
    this.toWrite.push({ digest: d, data: chunk, ref });
    this.toWriteBytes += chunk.length;
  }

  private async flush(extra: () => KvOp[]): Promise<void> {
    const batch = this.toWrite.filter((w) => w.ref >= 0);
    const aliases = this.toWrite.filter((w) => w.ref < 0);
    this.toWrite = [];
    this.toWriteBytes = 0;
    await this.store.put(batch.map((w) => ({ digest: w.digest, data: w.data })), (locations) => {
      batch.forEach((w, i) => { this.refs[w.ref]!.location = locations[i]!; });
      for (const a of aliases) this.refs[-a.ref - 1]!.location = this.refs[this.seen.get(a.digest.toString('latin1'))!]!.location;
      return extra();
    });
  }
}
