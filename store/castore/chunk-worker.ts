// The code of a chunking worker (see chunking-pool.ts): cuts streams into content-defined
// chunks and hashes them, or computes a stream's SHA-256, each stream's state kept here
// between its pieces.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { Blake3, blake3 } from '../hash/blake3.js';
import { cutStream } from './chunker.js';
import type { ChunkJob, ChunkReply } from './chunking-pool.js';

type StreamState = { kind: 'chunks'; tail: Uint8Array; whole: Blake3 | null } | { kind: 'sha256'; hash: Hash };
const streams = new Map<number, StreamState>();
/** Streams whose earlier piece failed: their later pieces fail too (a fresh state would give a wrong answer). */
const failed = new Map<number, string>();
const EMPTY = new Uint8Array(0);
const NO_SIZES = new Int32Array(0);

function stateOf(job: ChunkJob): StreamState {
  let s = streams.get(job.stream);
  if (!s) {
    s = job.kind === 'sha256' ? { kind: 'sha256', hash: createHash('sha256') } : { kind: 'chunks', tail: EMPTY, whole: job.hashWhole ? new Blake3() : null };
    streams.set(job.stream, s);
  }
  return s;
}

function run(job: ChunkJob): ChunkReply {
  const s = stateOf(job);
  const data = job.data ?? EMPTY;
  if (s.kind === 'sha256') {
    s.hash.update(data);
    return { id: job.id, sizes: NO_SIZES, digests: EMPTY, whole: job.final ? s.hash.digest() : null };
  }
  s.whole?.update(data);
  const sizes: number[] = [];
  const digests: Buffer[] = [];
  s.tail = cutStream(s.tail, data, job.final, (chunk) => {
    sizes.push(chunk.length);
    digests.push(blake3(chunk));
  });
  return { id: job.id, sizes: Int32Array.from(sizes), digests: Buffer.concat(digests), whole: job.final ? s.whole?.digest() ?? null : null };
}

parentPort!.on('message', (job: ChunkJob) => {
  if (job.drop) { streams.delete(job.stream); failed.delete(job.stream); return; }
  let reply: ChunkReply;
  const earlier = failed.get(job.stream);
  if (earlier !== undefined) {
    reply = { id: job.id, error: earlier };
  } else {
    try {
      reply = run(job);
    } catch (err) {
      streams.delete(job.stream);
      failed.set(job.stream, (err as Error).message);
      reply = { id: job.id, error: (err as Error).message };
    }
  }
  if (job.final) { streams.delete(job.stream); failed.delete(job.stream); }
  parentPort!.postMessage(reply);
});
