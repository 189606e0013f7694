// Large downloads over plain HTTP read straight into fresh shared-memory segments: the socket
// reads into the segment (no buffer per read, no copy), and the NAR import hands the segments
// to its hashing and chunking workers as they are. node:http allocated a 64 KiB buffer per
// read and passed it through its parser and streams, and the import then copied every byte into
// shared memory; on a 100 MiB NAR that cost this thread ~170 ms. Anything but a plain
// `200` with a Content-Length (redirects, errors, chunked bodies) is left to node:http.
import net from 'node:net';
import { freshSegment } from '../castore/shared-segments.js';
import { CacheTransferError } from './http-cache.js';
import { parseHead } from './http-lite.js';

const SEGMENT = 4 << 20;
/** Segments received ahead of the consumer before the socket is paused. */
const AHEAD_BYTES = 4 * SEGMENT;
const MAX_HEAD = 64 << 10;

export interface SegmentDownload {
  /** Content-Length. */
  length: number;
  /** The body in fresh segments; fails if the connection ends early. */
  body: AsyncIterable<Buffer>;
}

/**
 * GETs `url` (http: only) on a connection of its own. Resolves to the download when the answer
 * is a plain 200 with a Content-Length, else to null (the connection is closed; ask again with
 * node:http, which knows the rest of HTTP).
 */
export function downloadSegments(url: URL, headers: Record<string, string>, idleTimeoutMs: number, shown: string): Promise<SegmentDownload | null> {
  return new Promise((resolve, reject) => {
    let seg = freshSegment(SEGMENT);
    let fill = 0;
    /** Where the bytes of `seg` not yet handed on start. */
    let from = 0;
    let length = -1;
    let received = 0;
    const ready: Buffer[] = [];
    let readyBytes = 0;
    let paused = false;
    let ended = false;
    let failure: Error | null = null;
    let wake: (() => void) | null = null;
    const signal = () => { const w = wake; wake = null; w?.(); };
    const fail = (err: Error) => {
      if (ended) return;
      failure ??= err;
      ended = true;
      sock.destroy();
      if (length < 0) reject(failure);
      signal();
    };
    const handOn = (end: number) => {
      if (end > from) { ready.push(seg.subarray(from, end)); readyBytes += end - from; }
      from = end;
    };
    const onHead = (): boolean => {
      const at = seg.subarray(0, fill).indexOf('\r\n\r\n');
      if (at < 0) {
        if (fill > MAX_HEAD) fail(new CacheTransferError(`GET ${shown}: response head larger than ${MAX_HEAD} bytes`, { url: shown }));
        return false;
      }
      const head = parseHead(seg.toString('latin1', 0, at));
      if (head === null || head.status !== 200) {
        ended = true;
        sock.destroy();
        resolve(null);
        return false;
      }
      length = head.length;
      from = at + 4;
      received = fill - from;
      resolve({ length, body: body() });
      return true;
    };
    const onRead = (n: number): boolean => {
      fill += n;
      if (length < 0) {
        if (!onHead()) return true;
      } else {
        received += n;
      }
      if (received > length) { fail(new CacheTransferError(`GET ${shown}: more than the ${length} bytes of Content-Length`, { url: shown })); return false; }
      if (received === length) {
        handOn(fill);
        ended = true;
        sock.destroy();
      } else if (fill === SEGMENT) {
        handOn(fill);
      }
      signal();
      if (!ended && readyBytes >= AHEAD_BYTES) { paused = true; return false; }
      return true;
    };
    const sock = net.connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        buffer: () => {
          if (fill === SEGMENT) { seg = freshSegment(SEGMENT); fill = 0; from = 0; }
          return seg.subarray(fill);
        },
        callback: onRead,
      },
    });
    const head = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    sock.write(head.join('\r\n') + '\r\n\r\n');
    sock.setNoDelay(true);
    sock.setTimeout(idleTimeoutMs, () => fail(new CacheTransferError(`GET ${shown}: no data for ${idleTimeoutMs / 1000} s`, { url: shown })));
    sock.on('error', (e) => fail(new CacheTransferError(`GET ${shown}: ${e.message}`, { url: shown })));
    sock.on('close', () => {
      if (!ended) fail(new CacheTransferError(`GET ${shown}: download cut off after ${Math.max(received, 0)} bytes${length >= 0 ? ` of ${length}` : ''}`, { url: shown }));
    });

    async function* body(): AsyncIterable<Buffer> {
      try {
        for (;;) {
          const b = ready.shift();
          if (b) {
            readyBytes -= b.length;
            if (paused && readyBytes < AHEAD_BYTES) { paused = false; sock.resume(); }
            yield b;
            continue;
          }
          if (failure) throw failure;
          if (ended) return;
          await new Promise<void>((r) => { wake = r; });
        }
      } finally {
        ended = true;
        sock.destroy();
      }
    }
  });
}
