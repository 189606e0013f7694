// Fresh shared-memory segments: buffers backed by a SharedArrayBuffer that nobody writes to
// once filled, so a consumer may keep views of them and hand them to worker threads without a
// copy. Which buffers are such segments is recorded here, so that a shared buffer that will be
// rewritten (a read ring, for instance) is never mistaken for one.

const fresh = new WeakSet<SharedArrayBuffer>();

/** A zero-filled buffer in shared memory (for reads that a worker then hashes, or a reused ring). */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/** A new zero-filled segment of `size` bytes; its filler must not rewrite bytes once handed on. */
export function freshSegment(size: number): Buffer {
  const sab = new SharedArrayBuffer(size);
  fresh.add(sab);
  return Buffer.from(sab);
}

/** Whether `b` lies in a fresh segment. */
export function isFreshSegment(b: Uint8Array): boolean {
  return b.buffer instanceof SharedArrayBuffer && fresh.has(b.buffer);
}

/**
 * `source` in fresh segments of about `size` bytes: pieces already in fresh segments pass as
 * they are, others are gathered (copied) into new segments.
 */
export async function* inFreshSegments(source: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Buffer> {
  let seg: Buffer | null = null;
  let fill = 0;
  for await (const v of source) {
    if (fill === 0 && isFreshSegment(v)) {
      yield Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      continue;
    }
    for (let off = 0; off < v.length;) {
      seg ??= freshSegment(size);
      const k = Math.min(v.length - off, size - fill);
      seg.set(k === v.length ? v : v.subarray(off, off + k), fill);
      fill += k;
      off += k;
      if (fill === size) {
        yield seg;
        seg = null;
        fill = 0;
      }
    }
  }
  if (seg && fill > 0) yield seg.subarray(0, fill);
}
