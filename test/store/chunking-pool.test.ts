// Chunking and hashing on worker threads: a blob written in shared-memory pieces, and a large
// NAR imported through shared segments, must come out exactly as when cut and hashed on this thread.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkingPool } from '../../store/castore/chunking-pool.js';
import { blake3 } from '../../store/hash/blake3.js';
import { sharedBuffer } from '../../store/hash/offload-sha256.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { importNar } from '../../store/nix/nar-import.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { NIX_ENV } from '../helpers/nix.js';
import { seededBytes, tempDir } from '../helpers/trees.js';

async function withLevelStore(f: (s: Store) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir('tsix-chunking-');
  const store = await openStore(`level://${dir}/store`, { direct: true });
  try { await f(store); } finally { await store.close(); await cleanup(); }
}

function shared(b: Buffer): Buffer {
  const s = sharedBuffer(b.length);
  b.copy(s);
  return s;
}

async function* pieces(b: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < b.length; i += size) yield Buffer.from(b.subarray(i, i + size));
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

test('a blob written in shared pieces of any size gets the digest, chunks and bytes of one cut here', async (t) => {
  await withLevelStore(async (store) => {
    const data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(1 << 20, 7), randomBytes(700_001)]);
    const here = store.blobs.writer();
    for (let i = 0; i < data.length; i += 1 << 20) await here.write(data.subarray(i, i + (1 << 20)));
    const a = await here.close();
    for (const hashedByCaller of [false, true]) {
      const w = store.blobs.writer({ size: data.length, hashedByCaller });
      const sizes = [5, 1 << 20, 333_333, 1, 2 << 20];
      for (let i = 0, off = 0; off < data.length; i++) {
        const n = Math.min(sizes[i % sizes.length]!, data.length - off);
        await w.write(shared(data.subarray(off, off + n)), true);
        off += n;
      }
      const b = await w.close(hashedByCaller ? blake3(data) : undefined);
      t.true(b.digest.equals(a.digest));
      t.true(b.digest.equals(blake3(data)));
      t.is(b.size, data.length);
      t.deepEqual((await store.blobs.stat(b.digest))!.chunks, (await store.blobs.stat(a.digest))!.chunks);
    }
    t.true((await collect((await store.blobs.open(a.digest))!)).equals(data));
  });
});

/** A tree with large files that straddle the 4 MiB segments, small ones, an empty one and symlinks, as real Nix dumps it. */
async function nixNar(dir: string): Promise<Buffer> {
  const root = join(dir, 'tree');
  await mkdir(join(root, 'sub/deeper'), { recursive: true });
  await writeFile(join(root, 'a-large'), seededBytes(5 << 20, 1));
  await writeFile(join(root, 'b-small'), 'hello');
  await writeFile(join(root, 'c-empty'), '');
  await writeFile(join(root, 'sub/medium'), seededBytes(1_500_000, 2));
  await writeFile(join(root, 'sub/deeper/large'), Buffer.concat([seededBytes(9 << 20, 3), seededBytes(3, 4)]), { mode: 0o755 });
  await symlink('../a-large', join(root, 'sub/link'));
  return execFileSync('nix-store', ['--dump', root], { env: NIX_ENV, maxBuffer: 1 << 30 });
}

function streamsOpened(): number {
  return (ChunkingPool.shared() as unknown as { nextStream: number }).nextStream;
}

test('a large NAR imported through shared segments (hash and chunking on workers) equals one imported here, and dumps back to the same bytes', async (t) => {
  const { dir, cleanup } = await tempDir('tsix-chunking-nar-');
  try {
    const nar = await nixNar(dir);
    const single = execFileSync('nix-store', ['--dump', join(dir, 'tree/sub/deeper/large')], { env: NIX_ENV, maxBuffer: 1 << 30 });
    for (const bytes of [nar, single]) {
      await withLevelStore(async (store) => {
        const here = await importNar(pieces(bytes, 65536), store);
        const streamsBefore = streamsOpened();
        const staged = await importNar(pieces(bytes, 65536), store, { sizeHint: bytes.length });
        t.true(streamsOpened() > streamsBefore, 'the staged import used the workers');
        t.true(staged.narHash.equals(createHash('sha256').update(bytes).digest()));
        t.is(staged.narSize, bytes.length);
        t.deepEqual(staged.node, here.node);
        t.true((await collect(dumpNar(store, staged.node))).equals(bytes));
      });
    }
  } finally {
    await cleanup();
  }
});

test('a staged import of a truncated or lying NAR fails and stores no directory; the workers serve the next import', async (t) => {
  const { dir, cleanup } = await tempDir('tsix-chunking-bad-');
  try {
    const nar = await nixNar(dir);
    const mem = await openStore('memory://');
    const want = await importNar(pieces(nar, 65536), mem);
    await mem.close();
    await withLevelStore(async (store) => {
      await t.throwsAsync(importNar(pieces(nar.subarray(0, 12 << 20), 65536), store, { sizeHint: nar.length }), { message: /truncated/ });
      await t.throwsAsync(importNar(pieces(nar, 65536), store, { sizeHint: nar.length, expectedNarHash: Buffer.alloc(32) }), { code: 'E_HASH_MISMATCH' } as never);
      t.is(want.node.type, 'directory');
      t.is(await store.directories.get((want.node as { digest: Buffer }).digest), null);
      const ok = await importNar(pieces(nar, 65536), store, { sizeHint: nar.length });
      t.true((await collect(dumpNar(store, ok.node))).equals(nar));
    });
  } finally {
    await cleanup();
  }
});

test('a chunking worker lost in the middle of a stream fails that stream (no hang, no wrong digest); the next stream gets a new worker', async (t) => {
  await withLevelStore(async (store) => {
    const data = randomBytes(3 << 20);
    const w = store.blobs.writer({ size: data.length * 2 });
    await w.write(shared(data), true);
    const pool = ChunkingPool.shared() as unknown as { workers: ({ terminate(): Promise<number> } | undefined)[] };
    await Promise.all(pool.workers.map((x) => x?.terminate()));
    await t.throwsAsync(async () => {
      await w.write(shared(data), true);
      await w.close();
    }, { message: /chunking worker/ });
    const again = store.blobs.writer({ size: data.length });
    await again.write(shared(data), true);
    t.true((await again.close()).digest.equals(blake3(data)));
  });
});
