// A FUSE read worker (see read-pool.ts): reads the chunks a READ overlaps from the pack files
// (one pread per run of adjacent chunks), checks each against its BLAKE3 digest, and writes the
// reply straight to /dev/fuse. Synchronous calls are fine here: this thread serves nothing else,
// and the files it reads are the store's own, never the mount.
import { readSync, writevSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { blake3 } from '../../store/hash/blake3.js';

export interface ReadJob {
  id: number;
  unique: bigint;
  /** Per chunk: file descriptor, offset in it, size. */
  fds: number[];
  offsets: number[];
  sizes: number[];
  /** The chunks' digests, 32 bytes each. */
  digests: Uint8Array;
  /** Per chunk: 1 if read and checked before (its pack bytes are immutable): not hashed again. */
  verified: Uint8Array;
  /** Bytes of the first chunk before the requested range, and the bytes to send. */
  skip: number;
  take: number;
}

export interface ReadDone {
  id: number;
  /** Set when the reply was not sent: the session answers with an error. */
  error?: { message: string; code?: string; corrupt?: number };
}

const fuseFd = (workerData as { fuseFd: number }).fuseFd;
let buf = Buffer.allocUnsafeSlow(2 << 20);

function serve(j: ReadJob): ReadDone {
  let total = 0;
  for (const s of j.sizes) total += s;
  if (buf.length < total) buf = Buffer.allocUnsafeSlow(total);
  // One pread per run of chunks lying next to each other in one file.
  let at = 0;
  for (let i = 0; i < j.sizes.length;) {
    let k = i + 1;
    let len = j.sizes[i]!;
    while (k < j.sizes.length && j.fds[k] === j.fds[i] && j.offsets[k] === j.offsets[i]! + len) len += j.sizes[k++]!;
    let got = 0;
    while (got < len) {
      const n = readSync(j.fds[i]!, buf, at + got, len - got, j.offsets[i]! + got);
      if (n === 0) return { id: j.id, error: { message: `pack file truncated at ${j.offsets[i]! + got}`, corrupt: i } };
      got += n;
    }
    at += len;
    i = k;
  }
  at = 0;
  for (let i = 0; i < j.sizes.length; i++) {
    const size = j.sizes[i]!;
    if (j.verified[i]) { at += size; continue; }
    const d = blake3(buf.subarray(at, at + size));
    if (Buffer.compare(d, j.digests.subarray(i * 32, i * 32 + 32)) !== 0) return { id: j.id, error: { message: 'chunk does not match its digest', corrupt: i } };
    at += size;
  }
  const header = Buffer.allocUnsafe(16);
  header.writeUInt32LE(16 + j.take, 0);
  header.writeInt32LE(0, 4);
  header.writeBigUInt64LE(j.unique, 8);
  try {
    writevSync(fuseFd, [header, buf.subarray(j.skip, j.skip + j.take)]);
  } catch (err) {
    // ENOENT: the request was interrupted and is gone; ENODEV: the mount is gone.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENODEV') return { id: j.id, error: { message: (err as Error).message, code: 'EREPLY' } };
  }
  return { id: j.id };
}

parentPort!.on('message', (j: ReadJob) => {
  let done: ReadDone;
  try {
    done = serve(j);
  } catch (err) {
    done = { id: j.id, error: { message: (err as Error).message, code: (err as NodeJS.ErrnoException).code } };
  }
  parentPort!.postMessage(done);
});
