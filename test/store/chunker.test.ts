// The WebAssembly gear loop against a plain JavaScript FastCDC written from the paper (the
// oracle), and the committed module bytes against what gear-chunker.wat compiles to.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { AVG_CHUNK, cutPoints, cutStream, gearTable, MASK_L, MASK_S, MAX_CHUNK, MIN_CHUNK } from '../../store/castore/chunker.js';
import { GEAR_CHUNKER_WASM } from '../../store/castore/gear-chunker-wasm.js';
import { compileGearChunker } from '../setup/build-wasm.js';

const GEAR = gearTable();

function oracleBoundary(buf: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len <= MIN_CHUNK) return end;
  const limit = start + Math.min(len, MAX_CHUNK);
  const normal = start + Math.min(len, AVG_CHUNK);
  let fp = 0;
  for (let i = start + MIN_CHUNK; i < limit; i++) {
    fp = ((fp << 1) + GEAR[buf[i]!]!) | 0;
    if ((fp & (i < normal ? MASK_S : MASK_L)) === 0) return i + 1;
  }
  return limit;
}

function oracleCuts(buf: Uint8Array, start: number, end: number, final: boolean): number[] {
  const ends: number[] = [];
  for (let s = start; final ? s < end : end - s >= MAX_CHUNK;) ends.push((s = oracleBoundary(buf, s, end)));
  return ends;
}

/** Low-entropy data: long runs and a short repeating pattern, where the masks rarely or never match. */
function patterned(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i < n / 3 ? 0 : i < (2 * n) / 3 ? i % 7 : (i * 2654435761) >>> 24;
  return b;
}

test('cut points equal the JavaScript oracle on random and patterned data, final or not, at any start', (t) => {
  for (const data of [randomBytes(3_000_000), patterned(3_000_000), randomBytes(MIN_CHUNK - 1), randomBytes(MAX_CHUNK)]) {
    for (const [start, final] of [[0, true], [0, false], [12345, true], [777, false]] as const) {
      if (start > data.length) continue;
      t.deepEqual(cutPoints(data, start, data.length, final), oracleCuts(data, start, data.length, final));
    }
  }
});

test('chunks fall between the minimum and maximum sizes, averaging near the target on random data', (t) => {
  const data = randomBytes(16 << 20);
  const ends = cutPoints(data, 0, data.length, true);
  t.is(ends[ends.length - 1], data.length);
  const sizes = ends.map((e, i) => e - (i ? ends[i - 1]! : 0));
  t.true(sizes.slice(0, -1).every((s) => s >= MIN_CHUNK && s <= MAX_CHUNK));
  const mean = data.length / sizes.length;
  t.true(mean > AVG_CHUNK * 0.8 && mean < AVG_CHUNK * 2, `mean chunk ${mean}`);
});

test('a large input grows the module memory and still cuts as the oracle', (t) => {
  const data = randomBytes(40 << 20);
  const digest = (xs: number[]) => createHash('sha256').update(xs.join(',')).digest('hex');
  t.is(digest(cutPoints(data, 0, data.length, true)), digest(oracleCuts(data, 0, data.length, true)));
});

test('the committed module is what gear-chunker.wat compiles to (npm run build:wasm)', async (t) => {
  t.is(GEAR_CHUNKER_WASM, (await compileGearChunker()).toString('base64'));
});

test('a stream fed in pieces of any size is cut where cutPoints cuts it whole, chunk bytes included', (t) => {
  for (const data of [randomBytes(3_000_000), patterned(2_000_000), randomBytes(MAX_CHUNK - 1)]) {
    const want = cutPoints(data, 0, data.length, true);
    const got: number[] = [];
    let at = 0;
    let tail: Uint8Array = new Uint8Array(0);
    const sizes = [1, 7, MAX_CHUNK, 100_000, 1 << 20, 3, MIN_CHUNK + 1];
    for (let i = 0, off = 0; off <= data.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, data.length - off);
      const final = off + n === data.length;
      tail = cutStream(tail, data.subarray(off, off + n), final, (chunk) => {
        t.true(Buffer.from(chunk).equals(data.subarray(at, at + chunk.length)));
        at += chunk.length;
        got.push(at);
      });
      off += n;
      if (final) break;
    }
    t.deepEqual(got, want);
    t.is(tail.length, 0);
  }
});
