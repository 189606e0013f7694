// Reads of a mounted file at random offsets and lengths, each checked against the original bytes.
import { randomInt } from 'node:crypto';
import { open } from 'node:fs/promises';

interface Asserts {
  is(actual: unknown, expected: unknown, message?: string): void;
  true(actual: boolean, message?: string): void;
}

/** `count` reads of `path` at offsets up to `orig.length + overshoot`, each up to `maxLen` bytes long. */
export async function checkRandomReads(t: Asserts, path: string, orig: Buffer, o: { count: number; maxLen: number; overshoot?: number; label?: string }): Promise<void> {
  const fh = await open(path, 'r');
  try {
    for (let i = 0; i < o.count; i++) {
      const off = randomInt(orig.length + (o.overshoot ?? 10));
      const len = randomInt(1, o.maxLen);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, off);
      const what = `${o.label ? `${o.label} ` : ''}offset ${off} length ${len}`;
      t.is(bytesRead, Math.max(0, Math.min(len, orig.length - off)), what);
      t.true(buf.subarray(0, bytesRead).equals(orig.subarray(off, off + bytesRead)), what);
    }
  } finally {
    await fh.close();
  }
}
