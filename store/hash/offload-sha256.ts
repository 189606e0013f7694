// Incremental SHA-256 computed on a worker thread, so that hashing a large NAR (narHash) runs
// beside the main thread's chunking and BLAKE3 instead of after them; the same worker can also
// compute whole-blob BLAKE3 digests of large files (`blob`, `blobUpdate`, `blobDigest`). Bytes reach the worker
// without copies when they are in SharedArrayBuffer-backed buffers the caller never modifies
// again (`updateShared`); other bytes are copied into shared staging segments (`update`).
// Messages keep their order, so the digest is the SHA-256 of the bytes in the order given.
import { Worker } from 'node:worker_threads';
import { BLAKE_MODULE } from './blake3.js';

// A message is 'digest' or a list of items, in order: a byte range for the SHA-256, or
// { b, v } (bytes of blob b, for its BLAKE3) or { b, end: true } (answer { b, d } with blob b's BLAKE3).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const h = createHash('sha256');
let B = null;
const blobs = new Map();
parentPort.on('message', (m) => {
  if (m === 'digest') { parentPort.postMessage(h.digest()); return; }
  for (const it of m) {
    if (it instanceof Uint8Array) { h.update(it); continue; }
    B ??= require(workerData.blake);
    let x = blobs.get(it.b);
    if (!x) blobs.set(it.b, x = new B.Blake3Hasher());
    if (it.v) x.update(Buffer.from(it.v.buffer, it.v.byteOffset, it.v.byteLength));
    if (it.end) { blobs.delete(it.b); parentPort.postMessage({ b: it.b, d: x.digestBuffer() }); }
  }
});
`;

/** Bytes gathered before a message is posted (a message costs tens of microseconds). */
const POST_BYTES = 1 << 20;
const STAGE_SIZE = 1 << 20;

// Defined beside the shared segments, so that readers can have it without loading this module.
import { sharedBuffer } from '../castore/shared-segments.js';
export { sharedBuffer };

export class OffloadedSha256 {
  // No inherited flags: the source is CommonJS, which e.g. --input-type=module would break.
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { blake: BLAKE_MODULE } });
  private failure: Error | null = null;
  private nextBlob = 0;
  private readonly blobDigests = new Map<number, { resolve: (d: Buffer) => void; reject: (e: unknown) => void }>();
  private sha: { resolve: (d: Uint8Array) => void; reject: (e: unknown) => void } | null = null;
  private stage = new Uint8Array(new SharedArrayBuffer(STAGE_SIZE));
  private stageStart = 0;
  private stagePos = 0;
  private batch: Uint8Array[] = [];
  private batchBytes = 0;

  constructor() {
    this.worker.on('error', (err) => {
      this.failure ??= err;
      for (const w of this.blobDigests.values()) w.reject(err);
      this.blobDigests.clear();
      this.sha?.reject(err);
    });
    this.worker.on('message', (m: Uint8Array | { b: number; d: Uint8Array }) => {
      if (m instanceof Uint8Array) { this.sha?.resolve(m); return; }
      const w = this.blobDigests.get(m.b);
      this.blobDigests.delete(m.b);
      if (this.blobDigests.size === 0 && !this.sha) this.worker.unref();
      w?.resolve(Buffer.from(m.d.buffer, m.d.byteOffset, m.d.byteLength));
    });
    // The worker must not keep the process alive if a caller forgets to close it.
    this.worker.unref();
  }

  /** Hashes a copy of `b` (the caller may reuse `b`). */
  update(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      if (this.stagePos === STAGE_SIZE) this.newStage();
      const k = Math.min(b.length - off, STAGE_SIZE - this.stagePos);
      this.stage.set(k === b.length ? b : b.subarray(off, off + k), this.stagePos);
      this.stagePos += k;
      off += k;
    }
    if (this.batchBytes + this.stagePos - this.stageStart >= POST_BYTES) this.post();
  }

  /** Hashes `b`, which must be backed by a SharedArrayBuffer and never be modified again. */
  updateShared(b: Uint8Array): void {
    if (!(b.buffer instanceof SharedArrayBuffer)) { this.update(b); return; }
    this.sealStage();
    this.batch.push(b);
    this.batchBytes += b.length;
    if (this.batchBytes >= POST_BYTES) this.post();
  }

  /** A new blob whose BLAKE3 the worker computes from `blobUpdate`s; its id. */
  blob(): number {
    return this.nextBlob++;
  }

  /** Adds `b` (in shared memory, never modified again) to blob `id`'s BLAKE3. */
  blobUpdate(id: number, b: Uint8Array): void {
    if (!(b.buffer instanceof SharedArrayBuffer)) throw new Error('blobUpdate needs shared memory');
    this.sealStage();
    this.batch.push({ b: id, v: b } as never);
    this.batchBytes += b.length;
    if (this.batchBytes >= POST_BYTES) this.post();
  }

  /** Blob `id`'s BLAKE3, once the worker has hashed everything given for it. */
  blobDigest(id: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<Buffer>((resolve, reject) => this.blobDigests.set(id, { resolve, reject }));
    this.worker.ref(); // keep the process alive until the answer arrives
    this.sealStage();
    this.batch.push({ b: id, end: true } as never);
    this.post();
    return p;
  }

  /** The digest of everything given; the worker then ends. */
  async digest(): Promise<Buffer> {
    this.post();
    if (this.failure) throw this.failure;
    this.worker.ref(); // keep the process alive until the answer arrives
    const d = await new Promise<Uint8Array>((resolve, reject) => {
      this.sha = { resolve, reject };
      this.worker.postMessage('digest');
    });
    this.sha = null;
    await this.close();
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  /** Moves the staged bytes not yet batched into the batch (as a view; the stage is never rewritten there). */
  private sealStage(): void {
    if (this.stagePos > this.stageStart) {
      this.batch.push(this.stage.subarray(this.stageStart, this.stagePos));
      this.batchBytes += this.stagePos - this.stageStart;
      this.stageStart = this.stagePos;
    }
  }

  private newStage(): void {
    this.sealStage();
    this.stage = new Uint8Array(new SharedArrayBuffer(STAGE_SIZE));
    this.stageStart = 0;
    this.stagePos = 0;
  }

  private post(): void {
    this.sealStage();
    if (this.batch.length === 0) return;
    this.worker.postMessage(this.batch);
    this.batch = [];
    this.batchBytes = 0;
  }
}
