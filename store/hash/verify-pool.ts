// BLAKE3 checks of chunks on worker threads. Reading a large blob (store dump, a NAR served to
// a cache client) checks every chunk against its digest; on the main thread that check was a
// quarter of a dump's time. Here the chunks of a group are split over the workers, which hash
// them in place (the group is read into shared memory), so checking runs beside reading and writing.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BLAKE_MODULE } from './blake3.js';

// A message: { id, buf, pieces: [offset, length, ...], digests } → { id, bad } where bad is the
// index of the first piece whose BLAKE3 is not its digest, or -1.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { blake3 } = require(workerData.blake);
parentPort.on('message', ({ id, buf, pieces, digests }) => {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const want = Buffer.from(digests.buffer, digests.byteOffset, digests.byteLength);
  let bad = -1;
  for (let i = 0; i < pieces.length / 2; i++) {
    const d = blake3(bytes.subarray(pieces[2 * i], pieces[2 * i] + pieces[2 * i + 1]));
    if (d.compare(want, 32 * i, 32 * i + 32) !== 0) { bad = i; break; }
  }
  parentPort.postMessage({ id, bad });
});
`;

export interface Piece { offset: number; length: number; digest: Buffer }


export class VerifyPool {
  private static instance: VerifyPool | null = null;
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (bad: number) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private turn = 0;

  /** The process's pool (workers start on first use and never keep the process alive). */
  static shared(): VerifyPool {
    return (VerifyPool.instance ??= new VerifyPool(Math.max(1, Math.min(2, availableParallelism()))));
  }

  private constructor(private readonly size: number) {}

  /**
   * Checks each piece of `buf` (which must be backed by a SharedArrayBuffer and not change until
   * the answer) against its digest: the index of the first piece that does not match, or -1.
   */
  async check(buf: Buffer, pieces: Piece[]): Promise<number> {
    if (!(buf.buffer instanceof SharedArrayBuffer)) throw new Error('VerifyPool.check needs shared memory');
    if (pieces.length === 0) return -1;
    // One part per worker, of about equal bytes.
    const total = pieces.reduce((a, p) => a + p.length, 0);
    const parts: Piece[][] = [];
    let part: Piece[] = [];
    let bytes = 0;
    for (const p of pieces) {
      part.push(p);
      bytes += p.length;
      if (bytes >= (total / this.size) * (parts.length + 1) && parts.length < this.size - 1) { parts.push(part); part = []; }
    }
    if (part.length) parts.push(part);
    let base = 0;
    const answers = await Promise.all(parts.map((ps) => {
      const first = base;
      base += ps.length;
      return this.post(buf, ps).then((bad) => (bad < 0 ? -1 : first + bad));
    }));
    const bad = answers.filter((b) => b >= 0);
    return bad.length ? Math.min(...bad) : -1;
  }

  private post(buf: Buffer, pieces: Piece[]): Promise<number> {
    const w = this.worker(this.turn++ % this.size);
    const id = this.nextId++;
    const flat = new Float64Array(pieces.length * 2);
    const digests = Buffer.allocUnsafe(32 * pieces.length);
    pieces.forEach((p, i) => { flat[2 * i] = p.offset; flat[2 * i + 1] = p.length; p.digest.copy(digests, 32 * i); });
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Referenced while it has work (a worker made while others were busy starts unreferenced).
      w.ref();
      w.postMessage({ id, buf, pieces: flat, digests });
    });
  }

  private worker(i: number): Worker {
    let w = this.workers[i];
    if (w) return w;
    // No inherited flags: the source is CommonJS, which e.g. --input-type=module would break.
    w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { blake: BLAKE_MODULE } });
    w.on('message', ({ id, bad }: { id: number; bad: number }) => this.settle(id, (x) => x.resolve(bad)));
    // A worker that fails or ends fails everything waiting (its own jobs are not told apart) and is replaced.
    const lost = (err: Error): void => {
      if (this.workers[i] !== w) return;
      this.workers[i] = undefined as unknown as Worker;
      for (const id of [...this.waiting.keys()]) this.settle(id, (x) => x.reject(err));
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`a BLAKE3 verify worker ended (exit code ${code})`)));
    w.unref();
    this.workers[i] = w;
    return w;
  }

  private settle(id: number, f: (x: { resolve: (bad: number) => void; reject: (e: unknown) => void }) => void): void {
    const x = this.waiting.get(id);
    if (!x) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) for (const w of this.workers) w?.unref();
    f(x);
  }
}
