// The NAR writer against real Nix: trees of many small files (read in batches, their checks
// here or on the verify workers) and large multi-chunk files dump to nix-store --dump's bytes;
// a damaged small blob fails the dump before any of its bytes are handed out.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blake3, blake3Matches } from '../../store/hash/blake3.js';
import { compareNames } from '../../store/castore/nodes.js';
import type { Directory, Node } from '../../store/castore/nodes.js';
import { openStore } from '../../store/open-store.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { CLI, tsix, tsixOk } from '../helpers/cli.js';
import { nixBuffer, requireNix } from '../helpers/nix.js';
import { seededBytes, tempDir } from '../helpers/trees.js';

let work: Awaited<ReturnType<typeof tempDir>>;
test.before(async () => { requireNix(); work = await tempDir('tsix-nar-dump-'); });
test.after.always(async () => { await work?.cleanup(); });

/** Small files of every kind around the inline and small-file limits, more than a read window per directory, nested, and large ones. */
async function manyFilesTree(root: string): Promise<string> {
  const many = join(root, 'many');
  await mkdir(many, { recursive: true });
  for (let i = 0; i < 700; i++) {
    const name = join(many, `f${i}`);
    if (i % 11 === 5) { await symlink(`target-${i}`, name); continue; }
    // Mostly inline sizes; every 9th is chunked but small (up to and past 64 KiB).
    const size = i % 9 === 0 ? 8000 + ((i * 977) % 60_000) : (i * 131) % 9000;
    await writeFile(name, seededBytes(size, i + 1));
    if (i % 7 === 0) await chmod(name, 0o755);
  }
  for (let d = 0; d < 12; d++) {
    const dir = join(root, 'nested', `d${d}`, 'inner');
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 30; f++) await writeFile(join(root, 'nested', `d${d}`, `x${f}`), seededBytes((d * 30 + f) * 53, 5000 + d * 30 + f));
    await writeFile(join(dir, 'leaf'), `leaf ${d}\n`);
  }
  await mkdir(join(root, 'nested', 'empty'));
  await writeFile(join(root, 'exactly-64k'), seededBytes(64 * 1024, 91));
  await writeFile(join(root, 'just-over-64k'), seededBytes(64 * 1024 + 1, 92));
  await writeFile(join(root, 'large-a.bin'), seededBytes((3 << 20) + 13, 93));
  await writeFile(join(root, 'large-b.bin'), seededBytes((2 << 20) + 5, 94));
  await writeFile(join(root, 'ünï-名前'), 'non-ascii\n');
  await writeFile(join(root, 'B-upper'), 'B\n');
  return root;
}

for (const workers of ['0', '1']) {
  test.serial(`dump of many small and large files equals nix-store --dump (TSIX_VERIFY_WORKERS=${workers})`, async (t) => {
    const src = await manyFilesTree(join(work.dir, `tree-${workers}`));
    const url = `level://${join(work.dir, `store-${workers}`)}`;
    const path = (await tsixOk(['--store', url, 'store', 'add', src])).trim();
    const theirs = await nixBuffer('nix-store', ['--dump', src]);
    const env = { TSIX_VERIFY_WORKERS: workers };
    const ours = await tsix(['--store', url, 'store', 'dump', path], { env });
    t.is(ours.code, 0, ours.stderr);
    t.true(ours.stdout.equals(theirs), `NAR bytes (${ours.stdout.length} vs ${theirs.length})`);
    // A sub path, and the library's non-transient stream (its buffers kept by the consumer).
    const sub = await tsix(['--store', url, 'store', 'dump', `${path}/many`], { env });
    t.true(sub.stdout.equals(await nixBuffer('nix-store', ['--dump', join(src, 'many')])));
    const store = await openStore(url, { direct: true });
    try {
      const info = (await store.pathInfos.get(path.slice(11, 43)))!;
      const kept: Buffer[] = [];
      process.env.TSIX_VERIFY_WORKERS = workers;
      for await (const b of dumpNar(store, info.node)) kept.push(b);
      t.true(Buffer.concat(kept).equals(theirs), 'non-transient stream');
    } finally {
      delete process.env.TSIX_VERIFY_WORKERS;
      await store.close();
    }
  });
}

test.serial('store dump into a pipe whose reader is slow (written synchronously, the pipe set to blocking) gives the same bytes', async (t) => {
  const src = await manyFilesTree(join(work.dir, 'tree-pipe'));
  const url = `level://${join(work.dir, 'store-pipe')}`;
  const path = (await tsixOk(['--store', url, 'store', 'add', src])).trim();
  const out = join(work.dir, 'pipe.nar');
  // The reader starts a second late: the pipe fills and the writer must wait, not fail.
  execFileSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" --store "${url}" store dump "${path}" | (sleep 1; cat > "${out}")`]);
  t.true((await readFile(out)).equals(await nixBuffer('nix-store', ['--dump', src])));
});

/** A store holding a directory of `count` inline files and, last, one stored under a digest that is not its BLAKE3. */
async function storeWithBadInline(count: number): Promise<{ store: Awaited<ReturnType<typeof openStore>>; root: Node; bad: Buffer }> {
  const store = await openStore('memory://');
  const good = Array.from({ length: count }, (_, i) => seededBytes(8000, 300 + i));
  const bad = Buffer.from('THE-DAMAGED-BLOB '.repeat(40));
  const digests = await store.blobs.putSmall!(good);
  const [wrong] = await store.blobs.putSmall!([bad], [blake3(Buffer.from('what the entry names'))]);
  const files = good.map((b, i) => ({ name: `f${String(i).padStart(4, '0')}`, digest: digests[i]!, size: b.length, executable: false }));
  files.push({ name: 'zzz-bad', digest: wrong!, size: bad.length, executable: false });
  const dir: Directory = { directories: [], files, symlinks: [] };
  const [d] = await store.directories.putMany([dir]);
  return { store, root: { type: 'directory', name: '', digest: d!, size: files.length }, bad };
}

for (const workers of ['0', '1']) {
  test.serial(`an inline blob that does not match its digest fails the dump and none of its bytes are handed out (TSIX_VERIFY_WORKERS=${workers})`, async (t) => {
    // 300 files of 8000 bytes: past the point where checks move to workers.
    const { store, root, bad } = await storeWithBadInline(300);
    process.env.TSIX_VERIFY_WORKERS = workers;
    try {
      for (const transient of [true, false]) {
        const got: Buffer[] = [];
        const err = await t.throwsAsync(async () => { for await (const b of dumpNar(store, root, { transient })) got.push(Buffer.from(b)); });
        t.regex(err!.message, /^blob [0-9a-f]{64} \('zzz-bad'\) does not match its digest$/);
        t.false(Buffer.concat(got).includes(bad.subarray(0, 34)), 'no byte of the damaged blob was handed out');
      }
    } finally {
      delete process.env.TSIX_VERIFY_WORKERS;
      await store.close();
    }
  });
}

test.serial('a damaged chunk of a small chunked file fails store dump, and its bytes are never written', async (t) => {
  const src = join(work.dir, 'small-chunked');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'a'), seededBytes(20_000, 71));
  await writeFile(join(src, 'b'), seededBytes(30_000, 72));
  const dir = join(work.dir, 'small-chunked-store');
  const url = `level://${dir}`;
  const path = (await tsixOk(['--store', url, 'store', 'add', src])).trim();
  t.is((await tsix(['--store', url, 'store', 'dump', path])).code, 0);
  const fh = await open(join(dir, 'packs', (await readdir(join(dir, 'packs')))[0]!), 'r+');
  await fh.write(Buffer.from('CORRUPTED'), 0, 9, 25_000);
  await fh.close();
  for (const workers of ['0', '1']) {
    const r = await tsix(['--store', url, 'store', 'dump', path], { env: { TSIX_VERIFY_WORKERS: workers } });
    t.not(r.code, 0);
    t.regex(r.stderr, /^error: blob [0-9a-f]{64} \('b'\) does not match its digest\n$/);
    t.false(r.stdout.includes('CORRUPTED'));
  }
});

test('compareNames orders names as their UTF-8 bytes do', (t) => {
  const alphabet = ['a', 'B', 'z', '.', '-', '0', 'é', 'ÿ', 'Ā', '名', '\ud7ff', '\ue000', '\uffee', '😀', '𝔸', '\ud800'];
  const names: string[] = [];
  let x = 12345;
  for (let i = 0; i < 3000; i++) {
    let s = '';
    const len = 1 + (i % 6);
    for (let k = 0; k < len; k++) { x = (x * 1103515245 + 12345) >>> 0; s += alphabet[x % alphabet.length]; }
    names.push(s);
  }
  for (let i = 1; i < names.length; i++) {
    const a = names[i - 1]!;
    const b = names[i]!;
    t.is(Math.sign(compareNames(a, b)), Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    t.is(compareNames(a, a), 0);
  }
});

test('blake3Matches agrees with comparing blake3 digests', (t) => {
  for (const n of [0, 1, 63, 64, 1023, 1024, 1025, 4096, 8192, 100_000]) {
    const data = seededBytes(n, n + 7);
    const d = blake3(data);
    t.true(blake3Matches(data, d), `${n} bytes`);
    const wrong = Buffer.from(d);
    wrong[n % 32]! ^= 1;
    t.false(blake3Matches(data, wrong), `${n} bytes, one bit off`);
    t.false(blake3Matches(data, d.subarray(0, 31)), 'a short digest');
  }
});
