// Content-defined chunking and hashing on worker threads. Importing a large file on one thread
// cut, hashed (each chunk and the whole blob) and stored it in turn, with the NAR's own parsing
// and SHA-256 on the same thread; here workers cut and hash a stream's pieces, or compute the
// NAR's SHA-256 (the pieces handed over in shared memory, so without a copy), while this thread
// parses, looks chunks up and writes them.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A piece of a stream for a worker; `drop` forgets a stream given up on. */
export interface ChunkJob { id: number; stream: number; kind: StreamKind; data: Uint8Array | null; final: boolean; hashWhole: boolean; drop?: boolean }
/**
 * 'chunks': the chunks completed by a piece (their sizes and BLAKE3 digests, 32 bytes each),
 * and after the final piece the whole stream's BLAKE3 (if asked for); 'sha256': after the
 * final piece, the whole stream's SHA-256 (as `whole`).
 */
export type StreamKind = 'chunks' | 'sha256';
export type ChunkReply = { id: number; sizes: Int32Array; digests: Uint8Array; whole: Uint8Array | null; error?: undefined } | { id: number; error: string };
export interface ChunkCuts { sizes: Int32Array; digests: Buffer; whole: Buffer | null }

interface Waiter { resolve: (r: ChunkCuts) => void; reject: (e: unknown) => void }

export class ChunkingPool {
  private static instance: ChunkingPool | null = null;
  private readonly workers: (Worker | undefined)[] = [];
  private readonly waiting = new Map<number, { worker: number } & Waiter>();
  /** Jobs posted to each worker and not answered yet. */
  private readonly busy: number[] = [];
  /** How many times each worker was lost: a stream opened before cannot go on (its state is gone). */
  private readonly losses: number[] = [];
  private nextId = 0;
  private nextStream = 0;

  /** The process's pool: workers start on first use and keep the process alive only while they have work. */
  static shared(): ChunkingPool {
    return (ChunkingPool.instance ??= new ChunkingPool(Math.max(1, Math.min(2, availableParallelism()))));
  }

  private constructor(private readonly size: number) {}

  /**
   * A new stream, on the worker with the least work waiting; all its pieces go to that worker,
   * which handles them in order. `hashWhole`: for 'chunks', also the BLAKE3 of the whole stream.
   */
  open(kind: StreamKind, hashWhole = false): ChunkingStream {
    const stream = this.nextStream++;
    let w = stream % this.size;
    for (let i = 0; i < this.size; i++) if ((this.busy[i] ?? 0) < (this.busy[w] ?? 0)) w = i;
    return new ChunkingStream(this, w, this.losses[w] ?? 0, stream, kind, hashWhole);
  }

  /** @internal */
  post(w: number, losses: number, job: Omit<ChunkJob, 'id'>): Promise<ChunkCuts> {
    if ((this.losses[w] ?? 0) !== losses) return Promise.reject(new Error('a chunking worker was lost while it held this stream'));
    const worker = this.worker(w);
    const id = this.nextId++;
    return new Promise<ChunkCuts>((resolve, reject) => {
      this.waiting.set(id, { worker: w, resolve, reject });
      this.busy[w] = (this.busy[w] ?? 0) + 1;
      worker.ref();
      worker.postMessage({ ...job, id });
    });
  }

  /** @internal */
  drop(w: number, stream: number): void {
    this.workers[w]?.postMessage({ id: -1, stream, kind: 'chunks', data: null, final: false, hashWhole: false, drop: true });
  }

  private worker(i: number): Worker {
    const existing = this.workers[i];
    if (existing) return existing;
    const w = new Worker(new URL('./chunk-worker.js', import.meta.url), { execArgv: [] });
    w.on('message', (r: ChunkReply) => this.settle(r.id, (x) => (r.error === undefined
      ? x.resolve({ sizes: r.sizes, digests: Buffer.from(r.digests.buffer, r.digests.byteOffset, r.digests.byteLength), whole: r.whole ? Buffer.from(r.whole) : null })
      : x.reject(new Error(`chunking worker: ${r.error}`)))));
    // A worker that fails or ends fails what waits on it (its streams' state is gone) and is replaced.
    const lost = (err: Error): void => {
      if (this.workers[i] !== w) return;
      this.workers[i] = undefined;
      this.losses[i] = (this.losses[i] ?? 0) + 1;
      for (const [id, x] of [...this.waiting]) if (x.worker === i) this.settle(id, (y) => y.reject(err));
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`a chunking worker ended (exit code ${code})`)));
    w.unref();
    this.workers[i] = w;
    return w;
  }

  private settle(id: number, f: (x: Waiter) => void): void {
    const x = this.waiting.get(id);
    if (!x) return;
    this.waiting.delete(id);
    if (--this.busy[x.worker]! === 0) this.workers[x.worker]?.unref();
    f(x);
  }
}

/** One blob's stream of pieces on a worker. */
export class ChunkingStream {
  constructor(private readonly pool: ChunkingPool, private readonly worker: number, private readonly losses: number, private readonly id: number,
    private readonly kind: StreamKind, private readonly hashWhole: boolean) {}

  /**
   * Cuts and/or hashes the next piece, which must be in shared memory and stay unchanged until
   * the answer; with `final`, the rest of the stream is cut too and the whole digest computed.
   * A piece that failed fails every later piece of the stream.
   */
  push(data: Buffer | null, final: boolean): Promise<ChunkCuts> {
    if (data && !(data.buffer instanceof SharedArrayBuffer)) throw new Error('ChunkingStream.push needs shared memory');
    return this.pool.post(this.worker, this.losses, { stream: this.id, kind: this.kind, data, final, hashWhole: this.hashWhole });
  }

  /** Gives the stream up (its worker forgets its state). */
  drop(): void {
    this.pool.drop(this.worker, this.id);
  }
}
