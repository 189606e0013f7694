// The mount's chunk reader on its own: every read pattern returns the blob's bytes, whether
// chunks come one by one, from a whole-blob stream with chunk-sized pieces (local store) or
// from a stream whose pieces ignore chunk boundaries (the daemon socket).
import test from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { BlobReader } from '../../fs/blob-reader.js';
import { openStore } from '../../store/open-store.js';
import { connectRemoteStore } from '../../store/remote/remote-store.js';
import { serveStore } from '../../store/remote/serve-store.js';
import type { Store } from '../../store/store.js';
import { tempDir } from '../helpers/trees.js';

async function put(store: Store, data: Buffer): Promise<Buffer> {
  const w = store.blobs.writer();
  await w.write(data);
  return (await w.close()).digest;
}

async function readAll(r: BlobReader, d: Buffer, size: number, step: number): Promise<Buffer> {
  const out = Buffer.alloc(size);
  for (let pos = 0; pos < size; pos += step) {
    const n = await r.readInto(d, out.subarray(pos), pos, step);
    if (n !== Math.min(step, size - pos)) throw new Error(`short read at ${pos}: ${n}`);
  }
  return out;
}

async function exercise(t: import('ava').ExecutionContext, store: Store): Promise<void> {
  const data = randomBytes(5 * 1024 * 1024 + 123);
  const d = await put(store, data);
  const r = new BlobReader(store.blobs, { cacheBytes: 1 << 20 });
  t.true((await readAll(r, d, data.length, 128 * 1024)).equals(data), 'sequential from the start');
  t.true((await readAll(r, d, data.length, 100_000)).equals(data), 'again from the start, other sizes');
  // Several readers at once, slightly out of order, as kernel read-ahead sends them.
  const out = Buffer.alloc(data.length);
  const reqs: Promise<number>[] = [];
  for (let pos = 0; pos < data.length; pos += 131072) reqs.push(r.readInto(d, out.subarray(pos), pos, 131072));
  await Promise.all(reqs.reverse());
  t.true(out.equals(data), 'concurrent');
  for (let i = 0; i < 100; i++) {
    const pos = randomInt(data.length + 5);
    const len = randomInt(1, 300_000);
    const buf = Buffer.alloc(len);
    const n = await r.readInto(d, buf, pos, len);
    t.is(n, Math.max(0, Math.min(len, data.length - pos)));
    t.true(buf.subarray(0, n).equals(data.subarray(pos, pos + n)), `at ${pos} length ${len}`);
  }
  for (const small of [Buffer.alloc(0), Buffer.from('tiny'), randomBytes(70_000)]) {
    const sd = await put(store, small);
    const b = Buffer.alloc(small.length + 10);
    t.is(await r.readInto(sd, b, 0, b.length), small.length);
    t.true(b.subarray(0, small.length).equals(small));
  }
}

test('local store: sequential, repeated, concurrent and random reads return the blob', async (t) => {
  await exercise(t, await openStore('memory://'));
});

test('through the daemon socket (stream pieces not aligned to chunks)', async (t) => {
  const tmp = await tempDir('tsix-reader-');
  t.teardown(tmp.cleanup);
  const server = await serveStore(await openStore('memory://'), join(tmp.dir, 'daemon.sock'));
  t.teardown(() => server.close());
  const remote = (await connectRemoteStore(join(tmp.dir, 'daemon.sock')))!;
  t.teardown(() => remote.close());
  await exercise(t, remote);
});

test('a missing blob is an error, not data', async (t) => {
  const store = await openStore('memory://');
  const r = new BlobReader(store.blobs);
  const err = await t.throwsAsync(r.readInto(Buffer.alloc(32, 1), Buffer.alloc(10), 0, 10));
  t.is((err as { code?: string }).code, 'E_NOT_FOUND');
});
