// The /dev/fuse connection: requests are read by a worker thread (a read(2) on /dev/fuse blocks
// until the kernel has a request, and must neither hold the event loop nor a libuv threadpool
// thread, which the store and every async fs call need), handed to the main thread one message
// per request, and answered from the main thread with one write(2) per reply. Small files whose
// contents the main thread handed over ahead of time (push) have their READs answered by the
// reader itself: no trip through the main thread for each file of a tar or cp -r.
import { readSync, writeSync, writevSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { logger } from '../../store/log.js';
import { OUT_HEADER, outHeader } from './protocol.js';

const log = logger('fs');

/**
 * The reader loop, run in a worker (CommonJS, evaluated from this string: no file to locate).
 * Each read(2) returns exactly one request; ENOENT (the request was interrupted before we got it),
 * EINTR and EAGAIN mean "read again"; ENODEV (unmounted) or ECONNABORTED (aborted) end it.
 */
const READER = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const { readSync, writevSync } = require('node:fs');
const buf = Buffer.allocUnsafe(workerData.bufferSize);
const header = Buffer.allocUnsafe(16);
// nodeid → { data, notify }: whole contents of small files, oldest first.
const files = new Map();
let bytes = 0;
// Started before the mount exists (a read then fails): waits until told to read (1) or to end (2).
const gate = new Int32Array(workerData.gate);
Atomics.wait(gate, 0, 0);
function apply(m) {
  if (m.put) for (const [id, data, notify] of m.put) {
    if (files.has(id)) continue;
    files.set(id, { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), notify });
    bytes += data.byteLength;
  }
  if (m.drop) for (const id of m.drop) {
    const f = files.get(id);
    if (f) { files.delete(id); bytes -= f.data.length; }
  }
  for (const [id, f] of files) {
    if (bytes <= workerData.cacheBytes) break;
    files.delete(id);
    bytes -= f.data.length;
  }
}
if (gate[0] === 2) parentPort.postMessage({ end: 'closed' });
else for (;;) {
  let n;
  try {
    n = readSync(workerData.fd, buf, 0, buf.length, null);
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'EINTR' || err.code === 'EAGAIN') continue;
    parentPort.postMessage({ end: err.code || String(err) });
    break;
  }
  if (n === 0) { parentPort.postMessage({ end: 'EOF' }); break; }
  // READ (opcode 15) of a file handed over: answered here.
  if (n >= 64 && buf.readUInt32LE(4) === 15) {
    for (let m; (m = receiveMessageOnPort(parentPort));) apply(m.message);
    const id = Number(buf.readBigUInt64LE(16));
    const f = files.get(id);
    if (f) {
      const off = Math.min(Number(buf.readBigUInt64LE(48)), f.data.length);
      const part = f.data.subarray(off, Math.min(f.data.length, off + buf.readUInt32LE(56)));
      header.writeUInt32LE(16 + part.length, 0);
      header.writeInt32LE(0, 4);
      buf.copy(header, 8, 8, 16);
      try { writevSync(workerData.fd, [header, part]); } catch {}
      if (f.notify) { f.notify = false; parentPort.postMessage({ hit: id }); }
      continue;
    }
  }
  const req = new Uint8Array(n);
  req.set(buf.subarray(0, n));
  parentPort.postMessage(req, [req.buffer]);
}
`;

export class FuseChannel {
  private readonly worker: Worker;
  /** Resolves (with why) once the reader has stopped: the connection is gone. */
  readonly ended: Promise<string>;
  private done = false;

  /** Called when the reader answers a READ of a file pushed with `notify` set (once). */
  onHit: (nodeid: number) => void = () => undefined;

  /** 0 until start() (1) or abandon() (2): the reader waits on it before its first read. */
  private readonly gate = new Int32Array(new SharedArrayBuffer(4));

  /** The reader thread starts at once, but reads only after start(): its start-up (~45 ms, more
   *  on a loaded machine) then overlaps the mount's instead of coming after it. */
  constructor(readonly fd: number, private readonly bufferSize: number, onRequest: (req: Buffer) => void, cacheBytes = 32 << 20) {
    this.worker = new Worker(READER, { eval: true, workerData: { fd, bufferSize, cacheBytes, gate: this.gate.buffer } });
    let end: (why: string) => void = () => undefined;
    this.ended = new Promise((res) => { end = res; });
    this.worker.on('message', (m: Uint8Array | { end: string } | { hit: number }) => {
      if (m instanceof Uint8Array) onRequest(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
      else if ('hit' in m) this.onHit(m.hit);
      else { this.done = true; end(m.end); }
    });
    this.worker.on('error', (err) => { log.error({ err: err.message }, 'FUSE reader failed'); this.done = true; end(err.message); });
    this.worker.on('exit', () => { this.done = true; end('exit'); });
  }

  /** Reads the first request (INIT) on this thread, before start(): a blocking read, for a
   *  request the kernel queued when it mounted. */
  readFirst(): Buffer {
    if (Atomics.load(this.gate, 0) !== 0) throw new Error('the FUSE reader has started already');
    const buf = Buffer.allocUnsafe(this.bufferSize);
    return buf.subarray(0, readSync(this.fd, buf, 0, buf.length, null));
  }

  /** Lets the reader read requests: the device is mounted. */
  start(): void {
    this.open(1);
  }

  /** Ends a reader that was never started (the mount failed); `ended` then resolves. */
  abandon(): void {
    this.open(2);
  }

  private open(state: number): void {
    if (Atomics.compareExchange(this.gate, 0, 0, state) === 0) Atomics.notify(this.gate, 0);
  }

  /**
   * Hands whole contents of files (by nodeid; never reused, the store never changes) to the
   * reader, which then answers their READs itself. `notify`: tell onHit when it first does.
   */
  push(files: [nodeid: number, data: Buffer, notify: boolean][]): void {
    if (this.done || files.length === 0) return;
    const put = files.map(([id, data, notify]) => [id, new Uint8Array(data), notify] as const);
    this.worker.postMessage({ put }, put.map((f) => f[1].buffer));
  }

  /** Forgets pushed contents (of nodes the kernel forgot). */
  drop(ids: number[]): void {
    if (!this.done && ids.length) this.worker.postMessage({ drop: ids });
  }

  /**
   * Sends a reply: header plus payload parts in one write. False if the kernel did not take it
   * (the request was interrupted and is gone, or the mount is); such errors are not thrown.
   */
  reply(unique: bigint, parts: Buffer[]): boolean {
    let len = OUT_HEADER;
    for (const p of parts) len += p.length;
    const h = outHeader(len, 0, unique);
    return this.write(parts.length === 0 ? [h] : [h, ...parts]);
  }

  /** An error reply (`errno` negative, e.g. -2 for ENOENT). */
  error(unique: bigint, errno: number): void {
    this.write([outHeader(OUT_HEADER, errno, unique)]);
  }

  private write(bufs: Buffer[]): boolean {
    try {
      if (bufs.length === 1) writeSync(this.fd, bufs[0]!);
      else writevSync(this.fd, bufs);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: the request was interrupted and is gone; ENODEV: the mount is gone.
      if (code !== 'ENOENT' && code !== 'ENODEV' && !this.done) log.error({ err: (err as Error).message }, 'cannot write a FUSE reply');
      return false;
    }
  }
}
