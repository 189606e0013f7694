/**
 * Reusable buffers for NARs rendered whole before sending. A fresh buffer per response is
 * memory outside V8's heap: a closure of hundreds of small paths allocated tens of MiB of it per
 * fetch, and the external-memory pressure made V8 run a full GC every few requests.
 * Sizes are rounded up to powers of two from MIN_CLASS; each class keeps a few free buffers.
 */
const MIN_CLASS = 1 << 14;
const FREE_PER_CLASS = 32;

export class NarBufferPool {
  private readonly free = new Map<number, Buffer[]>();

  /** `max` is the largest size `take` is asked for. */
  constructor(private readonly max: number) {}

  /** A buffer of at least `size` bytes (contents undefined); give it back when no longer used. */
  take(size: number): Buffer {
    if (size > this.max) throw new RangeError(`NarBufferPool: ${size} bytes asked, ${this.max} at most`);
    const cls = sizeClass(size);
    return this.free.get(cls)?.pop() ?? Buffer.allocUnsafeSlow(cls);
  }

  /** Returns a buffer from `take`; it must not be read or written afterwards. */
  give(buf: Buffer): void {
    let list = this.free.get(buf.length);
    if (!list) this.free.set(buf.length, list = []);
    if (list.length < FREE_PER_CLASS) list.push(buf);
  }
}

function sizeClass(size: number): number {
  let c = MIN_CLASS;
  while (c < size) c *= 2;
  return c;
}
