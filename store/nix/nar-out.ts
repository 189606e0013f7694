// The NAR writer's output: tokens and small contents gathered into large buffers, so the
// consumer gets a few big writes instead of one per token.
//
// Small file contents may be put in unchecked (read without their BLAKE3 check, see
// BlobService.readMany): each such blob lies whole in one buffer, and the buffer is handed out
// only after every blob in it was found to match its digest. The checks run on the verify
// pool's workers (the buffers are then shared memory) while the writer fills the next buffers,
// or here when workers are not worth it (a small dump, two cores or fewer, TSIX_VERIFY_WORKERS=0:
// see verify-policy.ts).
import { CorruptionError } from '../errors.js';
import { blake3Matches } from '../hash/blake3.js';
import { sharedBuffer } from '../castore/shared-segments.js';
import { checksOnWorkers } from '../hash/verify-policy.js';
import type { Piece, VerifyPool } from '../hash/verify-pool.js';

/** Output buffers are about this large. */
export const OUT_SIZE = 256 * 1024;
/** Unchecked bytes put before the checks move to workers: a small dump never starts them. */
const WORKERS_AFTER = 2 << 20;
/** Full buffers kept (being checked) before the oldest is awaited and handed out. */
const IN_FLIGHT = 4;

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
  private readonly ready: Ready[] = [];

  /** `transient`: a handed-out buffer is consumed before the producer runs again, so it can be reused. */
  constructor(private readonly transient = false) {
    this.onWorkers = checksOnWorkers();
    this.buf = this.fresh();
  }

  /** More full buffers are waiting than are kept in flight: `emit` before writing on. */
  get full(): boolean { return this.ready.length > IN_FLIGHT; }

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
    this.pieces = [];
    this.names = [];
    this.buf = this.fresh();
    this.pos = 0;
  }

  /** Hands out parked buffers, oldest first, until `keep` remain (each once its blobs are checked). */
  async *emit(keep = IN_FLIGHT): AsyncGenerator<Buffer, void> {
    while (this.ready.length > keep) {
      const r = this.ready.shift()!;
      if (r.check) {
        const bad = await r.check;
        if (bad >= 0) throw mismatch(r.pieces[bad]!, r.names[bad]!);
      }
      yield r.view;
      // The consumer asked for more: it is done with the buffer.
      if (this.transient) this.free.push(r.buf);
    }
  }

  /** Hands out everything written so far (the current buffer too). */
  drain(): AsyncGenerator<Buffer, void> {
    this.next();
    return this.emit(0);
  }
}

function firstMismatch(buf: Buffer, pieces: Piece[]): number {
  return pieces.findIndex((p) => !blake3Matches(buf.subarray(p.offset, p.offset + p.length), p.digest));
}

function mismatch(p: Piece, name: string): CorruptionError {
  const hex = p.digest.toString('hex');
  return new CorruptionError(`blob ${hex} ('${name}') does not match its digest`, { digest: hex });
}
