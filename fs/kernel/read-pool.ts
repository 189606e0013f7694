// READs of files whose chunks lie in local pack files are served by worker threads: the main
// thread only finds the chunks a request overlaps and hands them to a worker, which preads
// them, checks their BLAKE3 digests and writes the reply to /dev/fuse itself (read-worker.ts).
// Hashing and copying a big file's bytes so use both cores and never hold the event loop.
import { open, type FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { Digest } from '../../store/castore/nodes.js';
import { CorruptionError } from '../../store/errors.js';
import type { FileLayout } from '../blob-reader.js';
import type { ReadDone, ReadJob } from './read-worker.js';
import { chunkAt } from '../../store/castore/chunk-offsets.js';

interface Pending { resolve(): void; reject(err: unknown): void; blob: Digest; worker: number; layout: FileLayout; first: number; last: number }

export class ReadPool {
  private readonly workers: { w: Worker; jobs: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly files = new Map<string, Promise<FileHandle>>();
  private readonly fds = new Map<string, number>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly fuseFd: number, private readonly size = 2) {}

  /**
   * Serves READ `unique` of bytes [pos, pos+len) (within the blob) with a worker; resolves once
   * the reply is written, rejects (nothing sent: the caller answers with an error) otherwise.
   */
  async read(unique: bigint, blob: Digest, l: FileLayout, pos: number, len: number): Promise<void> {
    const end = Math.min(l.size, pos + len);
    const first = chunkAt(l.starts, pos);
    let last = first;
    while (last + 1 < l.chunks.length && l.starts[last + 1]! < end) last++;
    const fds: number[] = [];
    const offsets: number[] = [];
    const sizes: number[] = [];
    for (let i = first; i <= last; i++) {
      const c = l.chunks[i]!;
      fds.push(this.fds.get(c.path) ?? await this.fd(c.path));
      offsets.push(c.offset);
      sizes.push(c.size);
    }
    if (this.closed) throw new Error('the FUSE read pool is closed');
    const job: ReadJob = {
      id: this.nextId++, unique, fds, offsets, sizes,
      // Copies of just these chunks' entries (a view would send its whole buffer along).
      digests: new Uint8Array(l.digests.subarray(first * 32, (last + 1) * 32)),
      verified: l.verified.slice(first, last + 1),
      skip: pos - l.starts[first]!, take: end - pos,
    };
    const worker = this.pick();
    return new Promise<void>((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject, blob, worker, layout: l, first, last });
      this.workers[worker]!.jobs++;
      this.workers[worker]!.w.postMessage(job);
    });
  }

  /** Stops the workers (before the /dev/fuse descriptor they write to is closed) and closes the files. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.w.terminate()));
    this.workers.length = 0;
    for (const p of this.pending.values()) p.reject(new Error('the FUSE read pool is closed'));
    this.pending.clear();
    for (const f of this.files.values()) await (await f.catch(() => null))?.close();
    this.files.clear();
    this.fds.clear();
  }

  private fd(path: string): Promise<number> {
    let f = this.files.get(path);
    if (!f) {
      f = open(path, 'r');
      this.files.set(path, f);
      f.catch(() => this.files.delete(path));
    }
    return f.then((h) => {
      // Opened while closing: close() has gone through the files already.
      if (this.closed) { void h.close().catch(() => undefined); throw new Error('the FUSE read pool is closed'); }
      this.fds.set(path, h.fd);
      return h.fd;
    });
  }

  /** The worker with the fewest jobs (started on first use). */
  private pick(): number {
    let best = -1;
    for (let i = 0; i < this.workers.length; i++) if (best < 0 || this.workers[i]!.jobs < this.workers[best]!.jobs) best = i;
    if ((best < 0 || this.workers[best]!.jobs > 0) && this.workers.length < this.size) return this.start(this.workers.length);
    return best;
  }

  private start(i: number): number {
    const w = new Worker(new URL('./read-worker.js', import.meta.url), { workerData: { fuseFd: this.fuseFd } });
    w.unref();
    w.on('message', (m: ReadDone) => this.done(i, m));
    w.on('error', (err) => this.failWorker(i, err));
    this.workers[i] = { w, jobs: 0 };
    return i;
  }

  private done(worker: number, m: ReadDone): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.workers[worker]!.jobs--;
    if (!m.error) {
      p.layout.verified.fill(1, p.first, p.last + 1);
      return p.resolve();
    }
    const e = m.error;
    if (e.corrupt !== undefined) p.reject(new CorruptionError(`blob ${p.blob.toString('hex')}: ${e.message}`, { blob: p.blob.toString('hex') }));
    else p.reject(Object.assign(new Error(e.message), { code: e.code === 'EREPLY' ? undefined : e.code }));
  }

  private failWorker(worker: number, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(err);
    }
    if (!this.closed) this.start(worker);
  }
}
