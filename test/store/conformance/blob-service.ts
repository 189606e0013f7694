// BlobService conformance: every backend must pass these.
import type { TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { blake3 } from '../../../store/hash/blake3.js';
import { CorruptionError } from '../../../store/errors.js';
import type { Store } from '../../../store/store.js';
import { MAX_CHUNK } from '../../../store/castore/chunker.js';

async function put(store: Store, data: Buffer, pieces = 3, owned = false): Promise<Buffer> {
  const w = store.blobs.writer();
  const step = Math.ceil(data.length / pieces) || 1;
  // An owned piece is a fresh copy handed over to the writer; others are the caller's views.
  for (let i = 0; i < data.length; i += step) await w.write(owned ? Buffer.from(data.subarray(i, i + step)) : data.subarray(i, i + step), owned);
  const r = await w.close();
  if (r.size !== data.length) throw new Error(`writer reported size ${r.size}, wrote ${data.length}`);
  return r.digest;
}

export function blobServiceSuite(test: TestFn, name: string, open: () => Promise<Store>): void {
  test(`${name}: blob digest is BLAKE3 of the contents; stat, read and open return them`, async (t) => {
    const store = await open();
    const data = randomBytes(1_500_000);
    const d = await put(store, data);
    t.true(d.equals(blake3(data)));
    const st = await store.blobs.stat(d);
    t.is(st?.size, data.length);
    t.true(st!.chunks.length > 1, 'a 1.5 MB blob is chunked');
    t.is(st!.chunks.reduce((a, c) => a + c.size, 0), data.length);
    const chunks: Buffer[] = [];
    for await (const b of (await store.blobs.open(d))!) chunks.push(b);
    t.true(Buffer.concat(chunks).equals(data));
    await store.close();
  });

  test(`${name}: reads at any offset return exactly the requested range`, async (t) => {
    const store = await open();
    const data = randomBytes(2_000_000);
    const d = await put(store, data, 7);
    for (let i = 0; i < 50; i++) {
      const off = Math.floor(Math.random() * data.length);
      const len = Math.floor(Math.random() * 300_000);
      t.true((await store.blobs.read(d, off, len))!.equals(data.subarray(off, off + len)), `offset ${off} length ${len}`);
    }
    t.is((await store.blobs.read(d, data.length + 10, 10))!.length, 0);
    await store.close();
  });

  test(`${name}: chunk boundaries do not depend on how the writes were split`, async (t) => {
    const store = await open();
    const data = randomBytes(1_000_000);
    const d1 = await put(store, data, 1);
    const d2 = await put(store, data, 13);
    t.deepEqual((await store.blobs.stat(d1))!.chunks.map((c) => c.size), (await store.blobs.stat(d2))!.chunks.map((c) => c.size));
    // Many small writes (each boundary found across the kept tail) and handed-over buffers.
    const big = randomBytes(3_000_000);
    const whole = (await store.blobs.stat(await put(store, big, 1)))!.chunks.map((c) => c.size);
    for (const [pieces, owned] of [[997, false], [5, true], [2311, true]] as const) {
      const d = await put(store, big, pieces, owned);
      t.true(d.equals(blake3(big)));
      t.deepEqual((await store.blobs.stat(d))!.chunks.map((c) => c.size), whole, `${pieces} pieces, owned ${owned}`);
      const got: Buffer[] = [];
      for await (const b of (await store.blobs.open(d, { transient: true }))!) got.push(Buffer.from(b));
      t.true(Buffer.concat(got).equals(big), 'a transient stream yields the contents');
    }
    await store.close();
  });

  test(`${name}: putSmall stores a group (inline, chunked, repeated, already stored) like writers do`, async (t) => {
    const store = await open();
    if (!store.blobs.putSmall) { t.pass('no putSmall'); await store.close(); return; }
    const before = randomBytes(3000);
    await put(store, before);
    const bigBefore = randomBytes(300_000);
    await put(store, bigBefore);
    // One sharing most chunks with another in the group, and chunked ones stored before or twice.
    const big = randomBytes(600_000);
    const sharing = Buffer.concat([big.subarray(0, 450_000), randomBytes(100_000)]);
    const blobs = [randomBytes(10), Buffer.alloc(0), before, randomBytes(8192), randomBytes(8193), big, before, bigBefore, sharing, big];
    blobs.push(blobs[0]!);
    const digests = await store.blobs.putSmall(blobs);
    t.is(digests.length, blobs.length);
    // With the digests given (as an ingest that hashed the files already does).
    const more = [randomBytes(77), randomBytes(20_000)];
    const given = await store.blobs.putSmall(more, more.map((b) => blake3(b)));
    for (let i = 0; i < more.length; i++) t.true((await store.blobs.read(given[i]!, 0, 1 << 20))!.equals(more[i]!));
    const wrong = randomBytes(30_000);
    await t.throwsAsync(store.blobs.putSmall([wrong], [blake3(Buffer.from('something else'))]));
    t.is(await store.blobs.stat(blake3(Buffer.from('something else'))), null, 'nothing stored under the wrong digest');
    for (let i = 0; i < blobs.length; i++) {
      t.true(digests[i]!.equals(blake3(blobs[i]!)));
      t.true((await store.blobs.read(digests[i]!, 0, blobs[i]!.length + 1))!.equals(blobs[i]!));
      t.is((await store.blobs.stat(digests[i]!))!.size, blobs[i]!.length);
    }
    await store.close();
  });

  test(`${name}: readMany returns whole blobs (inline, chunked, absent) in order`, async (t) => {
    const store = await open();
    if (!store.blobs.readMany) { t.pass('no readMany'); await store.close(); return; }
    const blobs = [randomBytes(100), randomBytes(500_000), Buffer.alloc(0), randomBytes(9000)];
    const digests = [];
    for (const b of blobs) digests.push(await put(store, b));
    const absent = blake3(Buffer.from('not stored'));
    const got = await store.blobs.readMany([digests[0]!, absent, digests[1]!, digests[2]!, digests[3]!, digests[0]!]);
    t.deepEqual(got.map((b) => b?.toString('hex') ?? null), [blobs[0], null, blobs[1], blobs[2], blobs[3], blobs[0]].map((b) => b?.toString('hex') ?? null));
    // Read again (now from the index cache for chunked ones).
    t.true((await store.blobs.readMany([digests[1]!]))[0]!.equals(blobs[1]!));
    // Unchecked (the caller checks each blob itself): the same bytes.
    const unchecked = await store.blobs.readMany([digests[0]!, absent, digests[1]!, digests[2]!, digests[3]!], { unchecked: true });
    t.deepEqual(unchecked.map((b) => b?.toString('hex') ?? null), [blobs[0], null, blobs[1], blobs[2], blobs[3]].map((b) => b?.toString('hex') ?? null));
    await store.close();
  });

  test(`${name}: readMany returns the blobs of putSmall groups (tiny, one-chunk, many-chunk, repeated) in order`, async (t) => {
    const store = await open();
    if (!store.blobs.putSmall || !store.blobs.readMany) { t.pass('no putSmall or readMany'); await store.close(); return; }
    // Sizes around the group inline limit (1 KiB) and the one-chunk limit (16 KiB); two groups,
    // the second repeating blobs of the first.
    const first = [0, 1, 1024, 1025, 4096, 16 * 1024, 16 * 1024 + 1, 300_000].map((n) => randomBytes(n));
    const second = [randomBytes(2000), first[4]!, randomBytes(9000), first[6]!, randomBytes(900)];
    const d1 = await store.blobs.putSmall(first, first.map((b) => blake3(b)));
    const d2 = await store.blobs.putSmall(second);
    const all = [...first, ...second];
    const digests = [...d1, ...d2];
    const absent = blake3(Buffer.from('not stored'));
    for (const unchecked of [true, false]) {
      const got = await store.blobs.readMany([...digests, absent, digests[3]!], { unchecked });
      t.deepEqual(got.map((b) => b?.toString('hex') ?? null), [...all, null, all[3]!].map((b) => b?.toString('hex') ?? null), `unchecked: ${unchecked}`);
    }
    for (let i = 0; i < all.length; i++) t.is((await store.blobs.stat(digests[i]!))!.size, all[i]!.length);
    await store.close();
  });

  test(`${name}: a one-chunk blob stored by putSmall under a wrong digest is refused on read`, async (t) => {
    const store = await open();
    if (!store.blobs.putSmall) { t.pass('no putSmall'); await store.close(); return; }
    const wrong = blake3(Buffer.from('some other bytes'));
    // Not checked when stored (the digest of a one-chunk blob is its chunk's): every read checks it.
    await store.blobs.putSmall([randomBytes(5000)], [wrong]);
    await t.throwsAsync(store.blobs.read(wrong, 0, 10_000), { instanceOf: CorruptionError });
    await store.close();
  });

  test(`${name}: a blob repeating the same chunks stores and reads back`, async (t) => {
    const store = await open();
    const block = randomBytes(700_000);
    const data = Buffer.concat([block, block, block, block.subarray(0, 300_000), block]);
    for (const pieces of [1, 9, 400]) {
      const d = await put(store, data, pieces);
      const st = (await store.blobs.stat(d))!;
      t.true(new Set(st.chunks.map((c) => c.digest.toString('hex'))).size < st.chunks.length, 'some chunks repeat');
      const got: Buffer[] = [];
      for await (const b of (await store.blobs.open(d))!) got.push(Buffer.from(b));
      t.true(Buffer.concat(got).equals(data));
      t.true((await store.blobs.read(d, 1_000_000, 1_500_000))!.equals(data.subarray(1_000_000, 2_500_000)));
    }
    await store.close();
  });

  test(`${name}: an edit in the middle shares every chunk away from it`, async (t) => {
    const store = await open();
    const a = randomBytes(2_000_000);
    const b = Buffer.from(a);
    const at = 1_000_000;
    b.write('EDITED', at);
    const sa = (await store.blobs.stat(await put(store, a)))!;
    const sb = (await store.blobs.stat(await put(store, b)))!;
    const hexA = new Set(sa.chunks.map((c) => c.digest.toString('hex')));
    // Content-defined cuts before the edit are the same in both; after it the two streams meet
    // again at the first cut both find, which is usually the next one but may take a few more.
    let off = 0;
    const unshared: Array<[number, number]> = [];
    for (const c of sb.chunks) {
      if (!hexA.has(c.digest.toString('hex'))) unshared.push([off, off + c.size]);
      off += c.size;
    }
    t.true(unshared.length > 0, 'the edited chunk is new');
    const first = unshared[0]!, last = unshared[unshared.length - 1]!;
    t.true(first[0] <= at && first[1] > at, `the first new chunk [${first}] holds the edit at ${at}`);
    t.true(unshared.every((r, i) => i === 0 || r[0] === unshared[i - 1]![1]), 'new chunks are one run: once in step again, the chunkers stay so');
    t.true(last[1] - at <= 4 * MAX_CHUNK, `in step again ${last[1] - at} bytes after the edit`);
    for (const c of sb.chunks) t.true(await store.blobs.hasChunk(c.digest));
    await store.close();
  });

  test(`${name}: transient streams of large blobs, one after another and one left midway, give their bytes`, async (t) => {
    const store = await open();
    const blobs = [randomBytes(20_000_000), randomBytes(3_000_000), randomBytes(9_000_000)];
    const digests: Buffer[] = [];
    for (const b of blobs) digests.push(await put(store, b, 5));
    const readTransient = async (d: Buffer, stopAfter = Infinity): Promise<Buffer> => {
      const got: Buffer[] = [];
      for await (const piece of (await store.blobs.open(d, { transient: true }))!) {
        got.push(Buffer.from(piece)); // a transient piece is only valid until the next is asked for
        if (got.length >= stopAfter) break;
      }
      return Buffer.concat(got);
    };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < blobs.length; i++) t.true((await readTransient(digests[i]!)).equals(blobs[i]!), `round ${round}, blob ${i}`);
      const part = await readTransient(digests[0]!, 1);
      t.true(part.length > 0 && part.equals(blobs[0]!.subarray(0, part.length)), 'the first piece of an abandoned stream');
    }
    await store.close();
  });

  test(`${name}: empty and tiny blobs`, async (t) => {
    const store = await open();
    const e = await put(store, Buffer.alloc(0));
    t.is((await store.blobs.stat(e))?.size, 0);
    t.is((await store.blobs.read(e, 0, 10))!.length, 0);
    const one = await put(store, Buffer.from('x'));
    t.is((await store.blobs.read(one, 0, 10))!.toString(), 'x');
    await store.close();
  });

  test(`${name}: absent blobs are null, not errors`, async (t) => {
    const store = await open();
    const d = blake3(Buffer.from('never stored'));
    t.is(await store.blobs.stat(d), null);
    t.is(await store.blobs.read(d, 0, 1), null);
    t.is(await store.blobs.open(d), null);
    t.false(await store.blobs.hasChunk(d));
    t.is(await store.blobs.readChunk(d), null);
    await store.close();
  });
}
