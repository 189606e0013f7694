// Small files read on the reader's worker: batch edges (file count, bytes, the one-byte probe
// past each file), files that changed after lstat, and whole ingests against real Nix.
import test from 'ava';
import { appendFile, chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blake3 } from '../../store/hash/blake3.js';
import { SmallFileReader, readSmallFile, WORKER_MIN_FILES } from '../../store/import/small-file-reader.js';
import { ingestPath, IngestError } from '../../store/import/ingest.js';
import { openStore } from '../../store/open-store.js';
import { tsix, tsixOk } from '../helpers/cli.js';
import { nix, nixBuffer, requireNix } from '../helpers/nix.js';
import { seededBytes, tempDir } from '../helpers/trees.js';

let work: Awaited<ReturnType<typeof tempDir>>;
test.before(async () => { work = await tempDir('tsix-small-reader-'); });
test.after.always(async () => { await work?.cleanup(); });

/** Sizes crossing the reader's batch limits (256 files, 4 MiB) and the store's (1 KiB inline, 16 KiB one chunk, 1 MiB small). */
function sizeOf(i: number): number {
  const sizes = [0, 1, 1023, 1024, 1025, 4096, 16 * 1024, 16 * 1024 + 1, 100_000, (1 << 20) - 1, 1 << 20];
  return sizes[i % sizes.length]!;
}

test('the reader returns every file of many batches with its BLAKE3, and errors for files unlike their lstat', async (t) => {
  const dir = join(work.dir, 'direct');
  await mkdir(dir);
  const files = [];
  for (let i = 0; i < 700; i++) {
    const path = join(dir, `f${i}`);
    await writeFile(path, seededBytes(sizeOf(i), i + 1));
    files.push({ path, size: sizeOf(i) });
  }
  // One listed smaller than it is (grew), one larger (shrank), one gone; the files after each still read.
  files[300] = { path: files[300]!.path, size: sizeOf(300) - 1 };
  files[301] = { path: files[301]!.path, size: sizeOf(301) + 5 };
  files[302] = { path: join(dir, 'missing'), size: 10 };
  const reader = new SmallFileReader(files);
  try {
    for (let i = 0; i < files.length; i++) {
      const r = await reader.take(i);
      if (i >= 300 && i <= 302) { t.true('error' in r, `file ${i} is refused`); continue; }
      if ('error' in r) { t.fail(`file ${i}: ${r.error}`); continue; }
      const want = seededBytes(sizeOf(i), i + 1);
      if (!r.data.equals(want) || !r.digest.equals(blake3(want))) t.fail(`file ${i} differs`);
    }
    await t.throwsAsync(reader.take(5), { message: /out of order/ });
  } finally {
    await reader.close();
  }
  t.true('error' in readSmallFile({ path: files[0]!.path, size: 3 }), 'the main-thread read checks the size too');
});

test('ingest refuses a small file that changed after it was listed (worker and main-thread reads)', async (t) => {
  for (const count of [WORKER_MIN_FILES + 10, 3]) {
    const root = join(work.dir, `changing-${count}`);
    await mkdir(root);
    for (let i = 0; i < count; i++) await writeFile(join(root, `f${String(i).padStart(4, '0')}`), seededBytes(2000, i + 7));
    const store = await openStore('memory://');
    // The filter runs after the entry's lstat: growing the file there is a change between listing and reading.
    const grow = async (rel: string) => { if (rel === 'f0002') await appendFile(join(root, rel), 'more'); return true; };
    await t.throwsAsync(ingestPath(store, root, { filter: grow }), { instanceOf: IngestError, message: /f0002: file changed size/ });
    await store.close();
  }
});

test('store add and dump of a tree of many small files across batch edges equal Nix\'s', async (t) => {
  requireNix();
  const root = join(work.dir, 'many');
  for (let d = 0; d < 4; d++) {
    const sub = join(root, `d${d}`);
    await mkdir(join(sub, 'inner'), { recursive: true });
    for (let i = 0; i < 150; i++) await writeFile(join(sub, `f${i}`), seededBytes(sizeOf(d * 150 + i), d * 1000 + i + 1));
    await writeFile(join(sub, 'inner', 'x'), 'x');
    await writeFile(join(sub, 'tool'), '#!/bin/sh\n');
    await chmod(join(sub, 'tool'), 0o755);
    await symlink('f1', join(sub, 'link'));
    await writeFile(join(sub, 'large'), seededBytes((1 << 20) + 1, d + 99)); // a large file between small ones
  }
  const store = `level://${join(work.dir, 'store')}`;
  const ours = (await tsixOk(['--store', store, 'store', 'add', root])).trim();
  const theirs = (await nix('nix-store', ['--add', root])).stdout.trim();
  t.is(ours, theirs);
  const ourNar = (await tsix(['--store', store, 'store', 'dump', ours])).stdout;
  t.true(ourNar.equals(await nixBuffer('nix-store', ['--dump', theirs])), 'NAR bytes');
});

test('store add of large files followed by many small ones (writers lagging behind the reads, within and at the backlog limit) equals Nix\'s', async (t) => {
  requireNix();
  const root = join(work.dir, 'lagging');
  await mkdir(join(root, 'a-large'), { recursive: true });
  // Over 32 MiB in all, so the NAR and the large files' BLAKE3 are hashed on the worker.
  for (let i = 0; i < 3; i++) await writeFile(join(root, 'a-large', `f${i}`), seededBytes(12 << 20, 500 + i));
  await writeFile(join(root, 'a-large', 'g'), seededBytes((1 << 20) + 3, 600));
  await mkdir(join(root, 'z-small'));
  for (let i = 0; i < 300; i++) await writeFile(join(root, 'z-small', `s${i}`), seededBytes(sizeOf(i), 700 + i));
  const theirs = (await nix('nix-store', ['--add', root])).stdout.trim();
  const theirNar = await nixBuffer('nix-store', ['--dump', theirs]);
  for (const backlog of [undefined, String(5 << 20)]) {
    const store = `level://${join(work.dir, `store-lag-${backlog ?? 'default'}`)}`;
    const env = { ...process.env, ...(backlog ? { TSIX_INGEST_BACKLOG: backlog } : {}) };
    t.is((await tsixOk(['--store', store, 'store', 'add', root], { env })).trim(), theirs, `backlog ${backlog ?? 'default'}`);
    t.true((await tsix(['--store', store, 'store', 'dump', theirs])).stdout.equals(theirNar), 'NAR bytes');
  }
});
