// The BLAKE3 verify pool: which piece is wrong, across the workers' parts, and what it refuses.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { blake3 } from '../../store/hash/blake3.js';
import { sharedBuffer } from '../../store/hash/offload-sha256.js';
import { VerifyPool, type Piece } from '../../store/hash/verify-pool.js';

function piecesOf(buf: Buffer, sizes: number[]): Piece[] {
  const out: Piece[] = [];
  let offset = 0;
  for (const length of sizes) {
    out.push({ offset, length, digest: blake3(buf.subarray(offset, offset + length)) });
    offset += length;
  }
  return out;
}

test('right pieces pass; a damaged one is named, the first of several when more are wrong', async (t) => {
  const sizes = Array.from({ length: 40 }, (_, i) => 20_000 + i * 997);
  const buf = sharedBuffer(sizes.reduce((a, b) => a + b, 0));
  randomBytes(buf.length).copy(buf);
  const pieces = piecesOf(buf, sizes);
  const pool = VerifyPool.shared();
  t.is(await pool.check(buf, pieces), -1);
  for (const bad of [0, 7, 21, 39]) {
    const copy = sharedBuffer(buf.length);
    buf.copy(copy);
    copy[pieces[bad]!.offset + 5]! ^= 1;
    t.is(await pool.check(copy, pieces), bad, `piece ${bad} damaged`);
  }
  const two = sharedBuffer(buf.length);
  buf.copy(two);
  two[pieces[30]!.offset]! ^= 0xff;
  two[pieces[3]!.offset + pieces[3]!.length - 1]! ^= 0xff;
  t.is(await pool.check(two, pieces), 3);
  t.is(await pool.check(buf, []), -1);
});

test('a wrong digest is caught as well as wrong bytes; memory that is not shared is refused', async (t) => {
  const buf = sharedBuffer(100_000);
  randomBytes(buf.length).copy(buf);
  const pieces = piecesOf(buf, [50_000, 50_000]);
  pieces[1] = { ...pieces[1]!, digest: blake3(Buffer.from('something else')) };
  t.is(await VerifyPool.shared().check(buf, pieces), 1);
  await t.throwsAsync(VerifyPool.shared().check(Buffer.alloc(10), [{ offset: 0, length: 10, digest: blake3(Buffer.alloc(10)) }]), { message: /shared memory/ });
});
