// Reference scanning: which of a set of store path hash parts (32 nixbase32 chars) occur in
// some bytes. Streams may split a hash across buffers, so the scanner keeps a 31-byte tail.

const HASH_LEN = 32;
const IS_BASE32 = new Uint8Array(256);
for (const c of '0123456789abcdfghijklmnpqrsvwxyz') IS_BASE32[c.charCodeAt(0)] = 1;

export class ReferenceScanner {
  private readonly wanted: Set<string>;
  private readonly seen = new Set<string>();
  private tail: Buffer = Buffer.alloc(0);

  constructor(hashParts: Iterable<string>) {
    this.wanted = new Set(hashParts);
  }

  /** Scans the next bytes of one stream; call `end` between unrelated streams. */
  update(data: Uint8Array): void {
    if (this.wanted.size === 0 || this.seen.size === this.wanted.size) return;
    const buf = this.tail.length ? Buffer.concat([this.tail, data]) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.scan(buf);
    const keep = Math.min(HASH_LEN - 1, buf.length);
    this.tail = Buffer.from(buf.subarray(buf.length - keep));
  }

  /** Ends the current stream (so a hash cannot span two files). */
  end(): void {
    this.tail = Buffer.alloc(0);
  }

  /** Scans one whole string (e.g. a symlink target). */
  scanWhole(data: Uint8Array | string): void {
    this.end();
    this.update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    this.end();
  }

  /** The hash parts found so far. */
  found(): Set<string> {
    return new Set(this.seen);
  }

  // Nix's search: check the candidate window right to left; a non-base32 byte at j means no
  // window containing j can match, so jump past it.
  private scan(buf: Buffer): void {
    let i = 0;
    const n = buf.length;
    while (i + HASH_LEN <= n) {
      let j = HASH_LEN - 1;
      while (j >= 0 && IS_BASE32[buf[i + j]!]) j--;
      if (j >= 0) { i += j + 1; continue; }
      const s = buf.toString('latin1', i, i + HASH_LEN);
      if (this.wanted.has(s)) this.seen.add(s);
      i++;
    }
  }
}
