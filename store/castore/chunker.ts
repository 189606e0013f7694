// FastCDC content-defined chunking (Xia et al. 2016, normalised chunking): boundaries depend
// on content, so an edit moves only nearby boundaries and the other chunks dedup.
import { blake3 } from '../hash/blake3.js';

export const MIN_CHUNK = 16 * 1024;
export const AVG_CHUNK = 64 * 1024;
export const MAX_CHUNK = 256 * 1024;

// Masks with more (small chunks less likely) and fewer (more likely) bits than log2(AVG) = 16.
const BITS_S = 18;
const BITS_L = 14;

function spreadMask(bits: number): number {
  // Spread `bits` one-bits over the high 24 bits of a u32, deterministic (kept as an int32: same bits).
  let m = 0;
  const step = 24 / bits;
  for (let i = 0; i < bits; i++) m |= 1 << (31 - Math.floor(i * step));
  return m | 0;
}
const maskS = spreadMask(BITS_S);
const maskL = spreadMask(BITS_L);

// Gear table: 256 pseudo-random u32s derived from BLAKE3 so it never changes between versions.
// Held as int32 (the same bits): the loop below then stays in 32-bit integer arithmetic, where
// u32 entries above 2^31 would make V8 compute in doubles (measured ~3x slower).
const GEAR = new Int32Array(256);
{
  const bytes = Buffer.alloc(1024);
  for (let i = 0; i < 32; i++) blake3(Buffer.from(`tsix-fastcdc-gear-${i}`)).copy(bytes, i * 32);
  for (let i = 0; i < 256; i++) GEAR[i] = bytes.readInt32LE(i * 4);
}

/**
 * Finds the end of the first chunk of `buf[start, end)`; returns `end` when no boundary is found
 * before it (the caller decides whether more data may follow).
 */
export function findBoundary(buf: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len <= MIN_CHUNK) return end;
  const limit = start + (len < MAX_CHUNK ? len : MAX_CHUNK);
  const normal = start + (len < AVG_CHUNK ? len : AVG_CHUNK);
  let fp = 0;
  let i = start + MIN_CHUNK;
  for (; i < normal; i++) {
    fp = ((fp << 1) + GEAR[buf[i]!]!) | 0;
    if ((fp & maskS) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    fp = ((fp << 1) + GEAR[buf[i]!]!) | 0;
    if ((fp & maskL) === 0) return i + 1;
  }
  return limit;
}
