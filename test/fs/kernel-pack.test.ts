// tsix's own FUSE server over a LevelDB store with pack files: READs of chunked files are then
// answered by the read workers (pread, BLAKE3 check, reply written by the worker), and small
// files' contents are pushed to the /dev/fuse reader thread, which answers their READs itself.
// Both must return the original bytes at any offset, and a damaged chunk must be an I/O error.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountStoreFs, type MountedFs } from '../../fs/mount.js';
import type { RootEntry, RootLookup } from '../../fs/root-lookup.js';
import { ingestPath } from '../../store/import/ingest.js';
import { formatHash } from '../../store/nix/hash.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { requireFuse } from '../daemon/daemon-harness.js';
import { tempDir } from '../helpers/trees.js';
import { checkRandomReads } from '../helpers/random-reads.js';

const run = promisify(execFile);
const sh = async (cmd: string, args: string[]) => (await run(cmd, args, { maxBuffer: 256 << 20 })).stdout;

let tmp: { dir: string; cleanup: () => Promise<void> };
let src: string;
const mounts: MountedFs[] = [];
const stores: Store[] = [];

/** A store at `dir` holding `src`'s big/ and small/ as two store paths. */
async function storeWith(dir: string): Promise<{ store: Store; roots: RootLookup; names: { big: string; small: string } }> {
  const store = await openStore(`level://${dir}`);
  stores.push(store);
  const entries = new Map<string, RootEntry>();
  const names = { big: `${'1'.repeat(32)}-big`, small: `${'2'.repeat(32)}-small` };
  for (const [k, name] of Object.entries(names)) {
    const r = await ingestPath(store, join(src, k));
    entries.set(name, { node: r.node, narHash: formatHash({ algo: 'sha256', digest: r.narHash }, 'sri') });
  }
  const roots: RootLookup = {
    async lookupRoot(name) { return entries.get(name) ?? null; },
    async *listRoots() { yield* entries.keys(); },
  };
  return { store, roots, names };
}

async function mount(store: Store, roots: RootLookup): Promise<MountedFs> {
  const m = await mountStoreFs({ mountPoint: join(tmp.dir, `mnt-${mounts.length}`), cas: store, roots, backend: 'kernel' });
  mounts.push(m);
  return m;
}

test.before(async () => {
  await requireFuse();
  tmp = await tempDir('tsix-kpack-');
  src = join(tmp.dir, 'src');
  await mkdir(join(src, 'big'), { recursive: true });
  await writeFile(join(src, 'big', 'big.bin'), randomBytes(9 * 1024 * 1024 + 4321));
  await writeFile(join(src, 'big', 'medium.bin'), randomBytes(100 * 1024 + 7));
  // Small files of every size around a page, and a few bigger than what is pushed.
  await mkdir(join(src, 'small', 'd'), { recursive: true });
  for (let i = 0; i < 400; i++) await writeFile(join(src, 'small', 'd', `f${String(i).padStart(3, '0')}`), randomBytes(i === 0 ? 0 : (i * 97) % 20000));
});

test.after.always(async () => {
  for (const m of mounts) await m.unmount().catch(() => undefined);
  for (const s of stores) await s.close().catch(() => undefined);
  await tmp?.cleanup();
});

test.serial('chunked files read by the workers: random offsets and sizes up to 2 MiB return the original bytes', async (t) => {
  const { store, roots, names } = await storeWith(join(tmp.dir, 'store-a'));
  const m = await mount(store, roots);
  for (const f of ['big.bin', 'medium.bin']) {
    const orig = await readFile(join(src, 'big', f));
    await checkRandomReads(t, join(m.mountPoint, names.big, f), orig, { count: 120, maxLen: 2 << 20, label: f });
  }
  await t.notThrowsAsync(sh('cmp', [join(src, 'big', 'big.bin'), join(m.mountPoint, names.big, 'big.bin')]));
});

test.serial('small files answered by the reader thread: in directory order, at any offset, and by tar, the original bytes', async (t) => {
  const { store, roots, names } = await storeWith(join(tmp.dir, 'store-b'));
  const m = await mount(store, roots);
  const dir = join(m.mountPoint, names.small, 'd');
  const files = (await readdir(dir)).sort();
  t.is(files.length, 400);
  // The first half in order (pushing ahead of the reader), then the rest at random offsets first.
  for (const f of files.slice(0, 200)) t.true((await readFile(join(dir, f))).equals(await readFile(join(src, 'small', 'd', f))), f);
  for (const f of files.slice(200)) {
    const orig = await readFile(join(src, 'small', 'd', f));
    await checkRandomReads(t, join(dir, f), orig, { count: 3, maxLen: 9000, overshoot: 2, label: f });
  }
  await t.notThrowsAsync(sh('diff', ['-r', join(src, 'small'), join(m.mountPoint, names.small)]));
  const tarOf = (d: string) => sh('bash', ['-c', `tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --mode='u=rX,go=rX' -C "$1" -cf - . | sha256sum`, 'tar', d]);
  t.is(await tarOf(join(m.mountPoint, names.small)), await tarOf(join(src, 'small')));
});

test.serial('a damaged chunk in a pack file is an I/O error, not wrong bytes; the rest of the file still reads', async (t) => {
  const { store, roots, names } = await storeWith(join(tmp.dir, 'store-c'));
  const big = (await roots.lookupRoot(names.big))!.node;
  if (big.type !== 'directory') throw new Error('big is a directory');
  const file = (await store.directories.get(big.digest))!.files.find((f) => f.name === 'big.bin')!;
  const layout = (await store.blobs.layout!(file.digest))!;
  t.true(layout.chunks.length > 4, 'chunked');
  // Flip one byte in the third chunk.
  const c = layout.chunks[2]!;
  const fh = await open(c.path, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, c.offset + 10);
  b[0] ^= 0xff;
  await fh.write(b, 0, 1, c.offset + 10);
  await fh.close();
  const m = await mount(store, roots);
  const orig = await readFile(join(src, 'big', 'big.bin'));
  const at = (i: number) => layout.chunks.slice(0, i).reduce((a, x) => a + x.size, 0);
  const f = await open(join(m.mountPoint, names.big, 'big.bin'), 'r');
  try {
    const bad = Buffer.alloc(4096);
    const err = await t.throwsAsync(f.read(bad, 0, 4096, at(2) + 5000));
    t.is((err as NodeJS.ErrnoException).code, 'EIO');
    const good = Buffer.alloc(4096);
    const start = at(4) + 4096 * 3;
    const { bytesRead } = await f.read(good, 0, 4096, start);
    t.is(bytesRead, 4096);
    t.true(good.equals(orig.subarray(start, start + 4096)));
  } finally {
    await f.close();
  }
});
