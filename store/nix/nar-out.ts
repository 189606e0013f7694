// The NAR writer's output: tokens and small contents gathered into large buffers, so the
// consumer gets a few big writes instead of one per token.
//
// Small file contents may be put in unchecked (read without their BLAKE3 check, see
// BlobService.readMany): each such blob lies whole in one buffer, and the buffer is handed out
// only after every blob in it was found to match its digest. The checks run on the verify
// pool's workers (the buffers are then shared memory) while the writer fills the next buffers,
// or here when workers are not worth it (a small dump, two cores or fewer, TSIX_VERIFY_WORKERS=0:
// see verify-policy.ts).
//
// A large file's contents are not copied in: its stream is inserted at its place (`insert`) and
// handed out piece by piece when the output gets there, while the writer goes on filling the
// buffers that follow it (up to AHEAD_BYTES, and one more inserted stream).
import { CorruptionError } from '../errors.js';
import { blake3Matches } from '../hash/blake3.js';
import { sharedBuffer } from '../castore/shared-segments.js';
import { checksOnWorkers } from '../hash/verify-policy.js';
import type { Piece, VerifyPool } from '../hash/verify-pool.js';

/** Output buffers are about this large. */
export const OUT_SIZE = 256 * 1024;
/** Unchecked bytes put before the checks move to workers: a small dump never starts them. */
const WORKERS_AFTER = 2 << 20;
/**
 * Bytes of parked buffers the writer may get ahead of the output when checks run on workers:
 * while a large file is handed out (its chunks read and checked on other threads) the writer
 * renders the small files after it into these; the cap bounds the memory that takes. With checks
 * on the writer's own thread there is nothing to overlap: a few buffers (the fresh memory of
 * 16 MiB of them costs ~4k page faults).
 */
const AHEAD_BYTES_WORKERS = 16 << 20;
const AHEAD_BYTES_HERE = 1 << 20;
/** Inserted streams waiting (the one being handed out and the next, both reading ahead). */
const STREAMS_AHEAD = 2;
/** Pieces of an inserted stream smaller than this are gathered before they are handed out. */
const GATHER_BELOW = 4096;

interface Ready {
  /** The bytes to hand out (a view of `buf`). */
  view: Buffer;
  buf: Buffer;
  /** Index of the first unchecked blob that does not match, or -1; null when there was none. */
  check: Promise<number> | null;
  pieces: Piece[];
  names: string[];
}

export class NarOut {
  private readonly onWorkers: boolean;
  /** The verify pool, loaded only when checks go to workers. */
  private pool: Promise<typeof VerifyPool> | null = null;
  private buf: Buffer;
  private pos = 0;
  /** Unchecked blobs in `buf`, and their names (for the error). */
  private pieces: Piece[] = [];
  private names: string[] = [];
  private unchecked = 0;
  private readonly free: Buffer[] = [];
  /** Parked buffers and inserted streams, in output order. */
  private readonly ready: (Ready | AsyncIterable<Buffer>)[] = [];
  private readyBytes = 0;
  private streams = 0;

  /** `transient`: a handed-out buffer is consumed before the producer runs again, so it can be reused. */
  constructor(private readonly transient = false) {
    this.onWorkers = checksOnWorkers();
    this.buf = this.fresh();
  }

  /** The writer is as far ahead of the output as it may get: hand out before writing on. */
  get full(): boolean { return this.readyBytes > (this.onWorkers ? AHEAD_BYTES_WORKERS : AHEAD_BYTES_HERE) || this.streams >= STREAMS_AHEAD; }

  /** Whether anything is waiting to be handed out. */
  get waiting(): boolean { return this.ready.length > 0; }

  /** Inserts a stream's pieces here (the buffer so far is parked before it). */
  insert(pieces: AsyncIterable<Buffer>): void {
    this.next();
    this.ready.push(pieces);
    this.streams++;
  }

  /** Appends bytes (full buffers are parked). */
  put(b: Uint8Array): void {
    if (b.length <= this.buf.length - this.pos) {
      this.buf.set(b, this.pos);
      this.pos += b.length;
      return;
    }
    let off = 0;
    while (off < b.length) {
      if (this.pos === this.buf.length) this.next();
      const k = Math.min(b.length - off, this.buf.length - this.pos);
      this.buf.set(b.subarray(off, off + k), this.pos);
      this.pos += k;
      off += k;
    }
  }

  /** Appends a whole blob read without its check (at most OUT_SIZE bytes): it is checked against `digest` before its buffer is handed out. */
  putUnchecked(b: Buffer, digest: Buffer, name: string): void {
    if (b.length > this.buf.length - this.pos) this.next();
    this.pieces.push({ offset: this.pos, length: b.length, digest });
    this.names.push(name);
    this.unchecked += b.length;
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Appends a NAR string: u64 length, bytes, zero padding. */
  putString(s: Buffer): void {
    this.putU64(s.length);
    this.put(s);
    const pad = (8 - (s.length % 8)) % 8;
    if (pad) this.zeros(pad);
  }

  putU64(n: number): void {
    if (this.buf.length - this.pos < 8) this.next();
    this.buf.writeUInt32LE(n % 0x100000000, this.pos);
    this.buf.writeUInt32LE(Math.floor(n / 0x100000000), this.pos + 4);
    this.pos += 8;
  }

  private zeros(n: number): void {
    if (this.buf.length - this.pos < n) this.next();
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  private fresh(): Buffer {
    return this.free.pop() ?? (this.onWorkers ? sharedBuffer(OUT_SIZE) : Buffer.allocUnsafe(OUT_SIZE));
  }

  /** Parks the current buffer (its check started) and starts another. */
  private next(): void {
    if (this.pos === 0) return;
    const r: Ready = { view: this.buf.subarray(0, this.pos), buf: this.buf, check: null, pieces: this.pieces, names: this.names };
    if (r.pieces.length) {
      if (this.onWorkers && this.unchecked >= WORKERS_AFTER) {
        const buf = this.buf;
        this.pool ??= import('../hash/verify-pool.js').then((m) => m.VerifyPool);
        r.check = this.pool.then((pool) => pool.shared().check(buf, r.pieces));
        r.check.catch(() => undefined); // awaited when handed out (or never, if the consumer stops first)
      } else {
        r.check = Promise.resolve(firstMismatch(this.buf, r.pieces));
      }
    }
    this.ready.push(r);
    this.readyBytes += this.pos;
    this.pieces = [];
    this.names = [];
    this.buf = this.fresh();
    this.pos = 0;
  }

  /** Hands out the oldest parked buffer (once its blobs are checked) or inserted stream, if any. */
  async *emitOne(): AsyncGenerator<Buffer, void> {
    const r = this.ready.shift();
    if (r === undefined) return;
    if (!('view' in r)) {
      this.streams--;
      yield* gathered(r);
      return;
    }
    this.readyBytes -= r.view.length;
    if (r.check) {
      const bad = await r.check;
      if (bad >= 0) throw mismatch(r.pieces[bad]!, r.names[bad]!);
    }
    yield r.view;
    // The consumer asked for more: it is done with the buffer.
    if (this.transient) this.free.push(r.buf);
  }

  /** Parks the current buffer: everything written so far is waiting. */
  finish(): void {
    this.next();
  }

  /** Hands out everything written so far (the current buffer too). */
  async *drain(): AsyncGenerator<Buffer, void> {
    this.next();
    while (this.ready.length) yield* this.emitOne();
  }
}

/** A stream's pieces, those smaller than GATHER_BELOW joined (a write or socket send per piece costs more than the copy). */
async function* gathered(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void> {
  let small: Buffer[] = [];
  let bytes = 0;
  for await (const piece of pieces) {
    if (piece.length >= GATHER_BELOW) {
      if (bytes) { yield Buffer.concat(small, bytes); small = []; bytes = 0; }
      yield piece;
      continue;
    }
    small.push(Buffer.from(piece)); // the stream may reuse its buffer for the next piece
    bytes += piece.length;
    if (bytes >= OUT_SIZE) { yield Buffer.concat(small, bytes); small = []; bytes = 0; }
  }
  if (bytes) yield Buffer.concat(small, bytes);
}

function firstMismatch(buf: Buffer, pieces: Piece[]): number {
  return pieces.findIndex((p) => !blake3Matches(buf.subarray(p.offset, p.offset + p.length), p.digest));
}

function mismatch(p: Piece, name: string): CorruptionError {
  const hex = p.digest.toString('hex');
  return new CorruptionError(`blob ${hex} ('${name}') does not match its digest`, { digest: hex });
}
