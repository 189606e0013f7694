// Small files of an ingest read (and BLAKE3-hashed) on a worker thread, in batches, ahead of the
// main thread, which meanwhile hashes the NAR, builds directories and stores the previous
// batches. Reading 20k files synchronously cost the main thread ~1 s of open/fstat/read/close
// and buffer allocations; here it takes a batch's bytes and digests with one message.
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { BLAKE_MODULE, blake3 } from '../hash/blake3.js';

export interface SmallFile { path: string; size: number }

/** A file's bytes and BLAKE3, or why it could not be read as lstat described it. */
export type SmallRead = { data: Buffer; digest: Buffer } | { error: string };

/** Files per batch, and bytes: one message each way per batch. */
const BATCH_FILES = 256;
const BATCH_BYTES = 4 << 20;
/** Batches read ahead of the one being taken. */
const AHEAD = 3;
/** Fewer small files than this are read on the main thread: a worker costs ~30 ms to start. */
export const WORKER_MIN_FILES = 256;

// Files are read in order into one shared slab per batch. Each read asks for one byte more than
// lstat said, to notice a file that grew; that byte lands on the next file's first byte, which
// the next read overwrites (the slab has one spare byte at the end for the last file).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const B = require(workerData.blake);
parentPort.on('message', (m) => {
  const slab = Buffer.from(m.slab);
  const digests = Buffer.from(m.digests);
  const errors = [];
  let pos = 0;
  for (let i = 0; i < m.paths.length; i++) {
    const size = m.sizes[i];
    try {
      const fd = fs.openSync(m.paths[i], 'r');
      try {
        let got = 0;
        for (let n = 1; n > 0 && got <= size;) got += (n = fs.readSync(fd, slab, pos + got, size + 1 - got, null));
        if (got !== size) errors.push([i, 'file changed size while it was being added (' + size + ' → ' + fs.fstatSync(fd).size + ')']);
        else digests.set(B.blake3(slab.subarray(pos, pos + size)), 32 * i);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      errors.push([i, err.message]);
    }
    pos += size;
  }
  parentPort.postMessage({ id: m.id, errors });
});
`;

interface Batch { first: number; count: number; offsets: number[]; slab: Buffer; digests: Buffer; errors: Map<number, string> | null; done: Promise<void> }

/** Reads `files` (in the order they will be taken) on a worker, AHEAD batches ahead. */
export class SmallFileReader {
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { blake: BLAKE_MODULE } });
  private readonly batches: Batch[] = [];
  private readonly waiting = new Map<number, { resolve: (errors: [number, string][]) => void; reject: (e: unknown) => void }>();
  /** Index of the next file to put in a batch. */
  private queued = 0;
  private failure: Error | null = null;

  constructor(private readonly files: SmallFile[]) {
    this.worker.on('message', (m: { id: number; errors: [number, string][] }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.resolve(m.errors);
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
    for (let i = 0; i < AHEAD && this.queued < files.length; i++) this.queueBatch();
  }

  /** File `i`'s bytes and digest; files must be taken in order. */
  async take(i: number): Promise<SmallRead> {
    while (this.batches.length && this.batches[0]!.first + this.batches[0]!.count <= i) {
      this.batches.shift();
      if (this.queued < this.files.length) this.queueBatch();
    }
    const b = this.batches[0];
    if (!b || i < b.first) throw new Error(`small file ${i} taken out of order`);
    if (!b.errors) await b.done;
    const error = b.errors!.get(i - b.first);
    if (error !== undefined) return { error };
    const k = i - b.first;
    return { data: b.slab.subarray(b.offsets[k]!, b.offsets[k]! + this.files[i]!.size), digest: b.digests.subarray(32 * k, 32 * k + 32) };
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private queueBatch(): void {
    const first = this.queued;
    const offsets: number[] = [];
    let bytes = 0;
    let end = first;
    while (end < this.files.length && end - first < BATCH_FILES && (end === first || bytes + this.files[end]!.size <= BATCH_BYTES)) {
      offsets.push(bytes);
      bytes += this.files[end++]!.size;
    }
    this.queued = end;
    const batch: Batch = { first, count: end - first, offsets, slab: Buffer.from(new SharedArrayBuffer(bytes + 1)), digests: Buffer.from(new SharedArrayBuffer(32 * (end - first))), errors: null, done: Promise.resolve() };
    const id = first;
    batch.done = new Promise<[number, string][]>((resolve, reject) => {
      if (this.failure) { reject(this.failure); return; }
      this.waiting.set(id, { resolve, reject });
    }).then((errors) => { batch.errors = new Map(errors); });
    batch.done.catch(() => undefined); // awaited when its first file is taken (or never, if ingest stops first)
    const slice = this.files.slice(first, end);
    this.worker.postMessage({ id, paths: slice.map((f) => f.path), sizes: slice.map((f) => f.size), slab: batch.slab.buffer, digests: batch.digests.buffer });
    this.batches.push(batch);
  }
}

/** One small file read on this thread (few of them: no worker), with its size checked against lstat's. */
export function readSmallFile(f: SmallFile): SmallRead {
  let fd: number;
  try { fd = openSync(f.path, 'r'); } catch (err) { return { error: (err as Error).message }; }
  try {
    const data = Buffer.allocUnsafe(f.size + 1);
    let got = 0;
    for (let n = 1; n > 0 && got <= f.size;) got += (n = readSync(fd, data, got, f.size + 1 - got, null));
    if (got !== f.size) return { error: `file changed size while it was being added (${f.size} → ${got > f.size ? 'more' : got})` };
    const b = data.subarray(0, got);
    return { data: b, digest: blake3(b) };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    closeSync(fd);
  }
}
