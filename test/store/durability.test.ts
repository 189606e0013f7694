// Crash safety and dedup of the LevelDB store, through the real CLI.
import test from 'ava';
import { spawn } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '../../store/open-store.js';
import type { KvStore } from '../../store/kv/kv-store.js';
import { CLI, tsix, tsixOk } from '../helpers/cli.js';
import { makeRichTree, seededBytes, tempDir } from '../helpers/trees.js';
import { mkdir } from 'node:fs/promises';

let work: Awaited<ReturnType<typeof tempDir>>;
test.before(async () => { work = await tempDir('tsix-durability-'); });
test.after.always(async () => { await work?.cleanup(); });

async function bigTree(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < 40; i++) await writeFile(join(dir, `part-${i}`), seededBytes(1 << 20, i + 1));
  for (let i = 0; i < 400; i++) await writeFile(join(dir, `small-${i}`), `small ${i}\n`);
  return dir;
}

test.serial('kill -9 during an import never leaves a visible half path', async (t) => {
  const src = await bigTree(join(work.dir, 'big'));
  const url = `level://${join(work.dir, 'crash-store')}`;
  // Kill at increasing delays; each run must leave either nothing or a complete, valid path.
  let interrupted = 0;
  for (const delayMs of [150, 250, 400, 600, 900]) {
    const child = spawn(process.execPath, [CLI, '--store', url, 'store', 'add', src], { stdio: 'ignore' });
    const closed = new Promise((r) => child.on('close', r));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await closed;
    const v = await tsix(['--store', url, 'store', 'verify', '--check-contents']);
    t.is(v.code, 0, `after kill at ${delayMs} ms: ${v.stderr}`);
    if (/checked 0 paths/.test(v.stderr)) interrupted++;
  }
  t.true(interrupted > 0, 'at least one kill landed before the import finished');
  const path = (await tsixOk(['--store', url, 'store', 'add', src])).trim();
  const v = await tsix(['--store', url, 'store', 'verify', '--check-contents']);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stderr, /checked 1 paths/);
  t.regex(path, /^\/nix\/store\/[0-9a-z]{32}-big$/);
});

test.serial('a second copy of a tree with one file changed adds far less than the tree', async (t) => {
  const a = await makeRichTree(join(work.dir, 'dedup-a'), { bigFileBytes: 0 });
  for (let i = 0; i < 16; i++) await writeFile(join(a, `blob-${i}`), seededBytes(1 << 20, 100 + i));
  const b = join(work.dir, 'dedup-b');
  await cp(a, b, { recursive: true, verbatimSymlinks: true });
  const changed = seededBytes(1 << 20, 105);
  changed.write('a small edit', 500_000);
  await writeFile(join(b, 'blob-5'), changed);
  const url = `level://${join(work.dir, 'dedup-store')}`;
  const usage = async () => {
    const s = (await openStore(url, { direct: true })) as KvStore;
    try { return await s.diskUsage(); } finally { await s.close(); }
  };
  const before = await usage();
  await tsixOk(['--store', url, 'store', 'add', a]);
  const afterA = await usage();
  await tsixOk(['--store', url, 'store', 'add', b]);
  const afterB = await usage();
  const treeBytes = 16 << 20;
  const first = afterA - before;
  const second = afterB - afterA;
  t.log(`first copy grew the store by ${first} bytes, the second by ${second} bytes (tree: ${treeBytes} bytes)`);
  t.true(first >= treeBytes * 0.9, 'the first copy is stored');
  t.true(second < treeBytes * 0.05, `second copy grew the store by ${second} bytes`);
});

/** A store holding one path with one file `big` of `size` seeded bytes. */
async function storeWithFile(name: string, size: number, seed: number): Promise<{ dir: string; url: string; path: string }> {
  const src = join(work.dir, `${name}-src`);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'big'), seededBytes(size, seed));
  const dir = join(work.dir, `${name}-store`);
  const url = `level://${dir}`;
  return { dir, url, path: (await tsixOk(['--store', url, 'store', 'add', src])).trim() };
}

/** Overwrites bytes of the store's first chunk pack at `offset`. */
async function damagePack(dir: string, offset: number): Promise<void> {
  const { readdir, open } = await import('node:fs/promises');
  const fh = await open(join(dir, 'packs', (await readdir(join(dir, 'packs')))[0]!), 'r+');
  await fh.write(Buffer.from('CORRUPTED'), 0, 9, offset);
  await fh.close();
}

test.serial('a corrupted chunk pack or database gives one clear error line and verify fails', async (t) => {
  const { dir, url, path } = await storeWithFile('corrupt', 2 << 20, 77);
  t.is((await tsix(['--store', url, 'store', 'verify', '--check-contents'])).code, 0);
  await damagePack(dir, 100_000);
  const cat = await tsix(['--store', url, 'store', 'cat', `${path}/big`]);
  t.not(cat.code, 0);
  t.regex(cat.stderr, /^error: chunk [0-9a-f]{64} of blob [0-9a-f]{64} does not match its digest\n$/);
  const v = await tsix(['--store', url, 'store', 'verify', '--check-contents']);
  t.is(v.code, 1);
  t.regex(v.stderr, new RegExp(`error: path '${path}': chunk`));
  await writeFile(join(dir, 'db', 'CURRENT'), 'MANIFEST-999999\n');
  const broken = await tsix(['--store', url, 'store', 'ls', path]);
  t.not(broken.code, 0);
  t.regex(broken.stderr, /^error: .*(corrupt|cannot open the store)[^\n]*\n$/);
  t.notRegex(broken.stderr, /    at /);
});

test.serial('a damaged chunk of a large blob (checked on the verify workers or here) fails dump and cat, and its bytes are never written', async (t) => {
  const { dir, url, path } = await storeWithFile('corrupt-large', 24 << 20, 78);
  t.is((await tsix(['--store', url, 'store', 'dump', path])).code, 0);
  await damagePack(dir, 20_000_000);
  for (const workers of ['0', '1']) for (const args of [['store', 'dump', path], ['store', 'cat', `${path}/big`]]) {
    const r = await tsix(['--store', url, ...args], { env: { TSIX_VERIFY_WORKERS: workers } });
    t.not(r.code, 0, `${args.join(' ')}, TSIX_VERIFY_WORKERS=${workers}`);
    t.regex(r.stderr, /^error: chunk [0-9a-f]{64} of blob [0-9a-f]{64} does not match its digest\n$/);
    t.false(r.stdout.includes('CORRUPTED'), `${args.join(' ')} wrote no byte of the damaged chunk`);
  }
});
