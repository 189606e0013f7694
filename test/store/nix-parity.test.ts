// tsix store commands against real Nix 2.8 on generated trees: same store paths, NAR bytes,
// narHash/narSize, listings and contents.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tsix, tsixOk } from '../helpers/cli.js';
import { nix, nixBuffer, requireNix } from '../helpers/nix.js';
import { makeTreeCorpus, tempDir } from '../helpers/trees.js';

let work: Awaited<ReturnType<typeof tempDir>>;
let trees: Record<string, string>;
let store: string;

test.before(async () => {
  requireNix();
  work = await tempDir('tsix-parity-');
  trees = await makeTreeCorpus(join(work.dir, 'trees'));
  store = `level://${join(work.dir, 'store')}`;
});
test.after.always(async () => { await work?.cleanup(); });

const cases = ['rich', 'single-file', 'single-exec', 'single-symlink', 'only-empty-dir', 'empty-single', 'wide'];

for (const name of cases) {
  test.serial(`store add/dump/path-info of '${name}' equal Nix's`, async (t) => {
    const src = trees[name]!;
    const ours = (await tsixOk(['--store', store, 'store', 'add', src])).trim();
    const theirs = (await nix('nix-store', ['--add', src])).stdout.trim();
    t.is(ours, theirs, 'store path');
    const ourNar = (await tsix(['--store', store, 'store', 'dump', ours])).stdout;
    const theirNar = await nixBuffer('nix-store', ['--dump', theirs]);
    t.true(ourNar.equals(theirNar), `NAR bytes (${ourNar.length} vs ${theirNar.length})`);
    const [ourInfo] = JSON.parse(await tsixOk(['--store', store, 'path-info', '--json', ours]));
    const [theirInfo] = JSON.parse((await nix('nix', ['path-info', '--json', theirs])).stdout);
    delete ourInfo.registrationTime;
    delete theirInfo.registrationTime;
    t.deepEqual(ourInfo, theirInfo);
  });
}

test.serial('store ls -lR and ls of a sub path print what nix store ls prints', async (t) => {
  const p = (await tsixOk(['--store', store, 'store', 'add', trees.rich!])).trim();
  await nix('nix-store', ['--add', trees.rich!]);
  for (const args of [['-lR', p], ['-l', p], ['-R', `${p}/a`], [`${p}/a/hello.txt`], ['-l', `${p}/rel-link`], ['-l', p + '/']]) {
    const ours = await tsixOk(['--store', store, 'store', 'ls', ...args]);
    const theirs = (await nix('nix', ['store', 'ls', ...args])).stdout;
    t.is(ours, theirs, `ls ${args.join(' ')}`);
  }
  t.is(await tsixOk(['--store', store, 'store', 'cat', `${p}/a/b/c/deep`]), (await nix('nix', ['store', 'cat', `${p}/a/b/c/deep`])).stdout);
  const big = (await tsix(['--store', store, 'store', 'cat', `${p}/big.bin`])).stdout;
  t.true(big.equals(await readFile(join(trees.rich!, 'big.bin'))));
});

const fixed: [string, string[]][] = [
  ['flat md5', ['md5']], ['flat sha1', ['sha1']], ['flat sha256', ['sha256']], ['flat sha512', ['sha512']],
  ['recursive sha1', ['--recursive', 'sha1']], ['recursive sha256', ['--recursive', 'sha256']], ['recursive sha512', ['--recursive', 'sha512']],
];
for (const [what, args] of fixed) {
  test.serial(`store add-fixed ${what} equals nix-store --add-fixed`, async (t) => {
    const srcs = args[0] === '--recursive' ? [trees.rich!, trees['single-file']!] : [trees['single-file']!, trees['empty-single']!];
    const ours = await tsixOk(['--store', store, 'store', 'add-fixed', ...args, ...srcs]);
    const theirs = (await nix('nix-store', ['--add-fixed', ...args, ...srcs])).stdout;
    t.is(ours, theirs);
    for (const p of ours.trim().split('\n')) {
      const [o] = JSON.parse(await tsixOk(['--store', store, 'path-info', '--json', p]));
      const [n] = JSON.parse((await nix('nix', ['path-info', '--json', p])).stdout);
      t.is(o.ca, n.ca, `ca of ${p}`);
      t.is(o.narHash, n.narHash);
    }
  });
}

test.serial('store restore of a Nix NAR recreates the tree exactly', async (t) => {
  const theirs = (await nix('nix-store', ['--add', trees.rich!])).stdout.trim();
  const nar = await nixBuffer('nix-store', ['--dump', theirs]);
  const out = join(work.dir, 'restored');
  const r = await tsix(['store', 'restore', out], { input: nar });
  t.is(r.code, 0, r.stderr);
  const again = await nixBuffer('nix-store', ['--dump', out]);
  t.is(createHash('sha256').update(again).digest('hex'), createHash('sha256').update(nar).digest('hex'));
});

test.serial('errors: a missing path, a bad store path and a missing file give one line and a non-zero exit', async (t) => {
  const missing = await tsix(['--store', store, 'store', 'ls', `/nix/store/${'0'.repeat(32)}-nothing`]);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /^error: .*does not exist\n$/);
  const bad = await tsix(['--store', store, 'store', 'dump', '/nix/store/short']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /^error: .*short.*\n$/);
  t.notRegex(bad.stderr, /    at /, 'no stack trace');
  const nofile = await tsix(['--store', store, 'store', 'add', join(work.dir, 'no-such-file')]);
  t.not(nofile.code, 0);
  t.regex(nofile.stderr, /^error: .*no-such-file.*no such file/);
  const usage = await tsix(['--store', store, 'store', 'frobnicate']);
  t.is(usage.code, 2);
});
