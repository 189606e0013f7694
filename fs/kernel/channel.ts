// The /dev/fuse connection: requests are read by a worker thread (a read(2) on /dev/fuse blocks
// until the kernel has a request, and must neither hold the event loop nor a libuv threadpool
// thread, which the store and every async fs call need), handed to the main thread one message
// per request, and answered from the main thread with one write(2) per reply.
import { writeSync, writevSync } from 'node:fs';
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
const { parentPort, workerData } = require('node:worker_threads');
const { readSync } = require('node:fs');
const buf = Buffer.allocUnsafe(workerData.bufferSize);
for (;;) {
  let n;
  try {
    n = readSync(workerData.fd, buf, 0, buf.length, null);
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'EINTR' || err.code === 'EAGAIN') continue;
    parentPort.postMessage({ end: err.code || String(err) });
    break;
  }
  if (n === 0) { parentPort.postMessage({ end: 'EOF' }); break; }
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

  constructor(readonly fd: number, bufferSize: number, onRequest: (req: Buffer) => void) {
    this.worker = new Worker(READER, { eval: true, workerData: { fd, bufferSize } });
    let end: (why: string) => void = () => undefined;
    this.ended = new Promise((res) => { end = res; });
    this.worker.on('message', (m: Uint8Array | { end: string }) => {
      if (m instanceof Uint8Array) onRequest(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
      else { this.done = true; end(m.end); }
    });
    this.worker.on('error', (err) => { log.error({ err: err.message }, 'FUSE reader failed'); this.done = true; end(err.message); });
    this.worker.on('exit', () => { this.done = true; end('exit'); });
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
