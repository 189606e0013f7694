// The FUSE mount against the originals: a real daemon serving a LevelDB store holding generated
// trees, read through the kernel with ordinary tools (diff, find, tar, getfattr) and Node.
import test from 'ava';
import { appendFile, chmod, lstat, mkdir, open, readdir, readFile, rename, rmdir, stat, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { blake3 } from '../../store/hash/blake3.js';
import { tsixOk } from '../helpers/cli.js';
import { makeTreeCorpus, tempDir } from '../helpers/trees.js';
import { launchDaemon, requireFuse, sh, type DaemonProcess } from '../daemon/daemon-harness.js';
import { contentView, describeTree } from './tree-compare.js';
import { checkRandomReads } from '../helpers/random-reads.js';

const NIX_ENV = { NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =' };

let tmp: { dir: string; cleanup: () => Promise<void> };
let daemon: DaemonProcess | null = null;
let corpus: Record<string, string> = {};
/** Corpus key → path of its store path in the mount. */
const mounted: Record<string, string> = {};
let mnt = '';

test.before(async () => {
  await requireFuse();
  tmp = await tempDir('tsix-fs-');
  corpus = await makeTreeCorpus(join(tmp.dir, 'src'));
  const url = `level://${join(tmp.dir, 'store')}`;
  const keys = Object.keys(corpus);
  const paths = (await tsixOk(['--store', url, 'store', 'add', ...keys.map((k) => corpus[k]!)])).trim().split('\n');
  mnt = join(tmp.dir, 'mnt');
  daemon = await launchDaemon(['--store', url], mnt);
  keys.forEach((k, i) => { mounted[k] = join(mnt, basename(paths[i]!)); });
});

test.after.always(async () => {
  await daemon?.kill();
  await tmp?.cleanup();
});

test('every store path reads back identical: names, types, executable bits, sizes, sha256 of every file, symlink targets', async (t) => {
  for (const k of Object.keys(corpus)) {
    t.deepEqual(contentView(await describeTree(mounted[k]!)), contentView(await describeTree(corpus[k]!)), k);
  }
});

test('diff -r finds no difference', async (t) => {
  for (const k of ['rich', 'wide', 'only-empty-dir', 'single-file', 'empty-single']) {
    await t.notThrowsAsync(sh('diff', ['-r', '--no-dereference', corpus[k]!, mounted[k]!]), k);
  }
});

test('modes, times and owner are those of a Nix store', async (t) => {
  for (const e of await describeTree(mounted.rich!)) {
    const want = e.type === 'directory' ? 0o555 : e.type === 'symlink' ? 0o777 : e.executable ? 0o555 : 0o444;
    t.is(e.mode, want, `${e.rel || '.'} mode`);
  }
  const st = await lstat(join(mounted.rich!, 'a/hello.txt'));
  t.is(st.mtimeMs, 1000);
  t.is(st.uid, 0);
  t.is(st.nlink, 1);
  const dir = await stat(join(mounted.rich!, 'a'));
  t.is(dir.nlink, 2 + 2, 'a directory links . and its subdirectories (a/b, a/empty)');
  t.is((await sh('stat', ['-f', '-c', '%T %l', mnt])).trim(), 'fuseblk 255');
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const line = info.split('\n').find((l) => l.split(' ')[4] === mnt)!;
  t.regex(line, / ro[, ]/, 'mounted read-only');
  t.regex(line, /fuse\.tsix tsix/);
});

test('inode numbers come from content: stable, and identical for identical files', async (t) => {
  const a = await stat(join(mounted.rich!, 'a/hello.txt'));
  const b = await stat(join(mounted.rich!, 'a/hello.txt'));
  t.is(a.ino, b.ino);
  const x = await stat(join(mounted.wide!, 'f1'));
  t.not(x.ino, (await stat(join(mounted.wide!, 'f2'))).ino);
  t.is((await stat(join(mounted['empty-single']!))).ino, (await stat(join(mounted.rich!, 'empty-file'))).ino);
});

test('find listings are equal', async (t) => {
  for (const k of ['rich', 'wide']) {
    const list = async (d: string) => (await sh('find', ['.', '-printf', '%y %s %P\\n'], { cwd: d })).split('\n').filter((l) => !l.startsWith('d ')).sort();
    const dirs = async (d: string) => (await sh('find', ['.', '-type', 'd'], { cwd: d })).split('\n').sort();
    t.deepEqual(await list(mounted[k]!), await list(corpus[k]!), k);
    t.deepEqual(await dirs(mounted[k]!), await dirs(corpus[k]!), k);
  }
});

test('tar of a store path equals tar of the original', async (t) => {
  const tarOf = async (dir: string) => sh('bash', ['-c', `tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --mode='u=rX,go=rX' -C "$1" -cf - . | sha256sum`, 'tar', dir]);
  for (const k of ['rich', 'wide', 'only-empty-dir']) t.is(await tarOf(mounted[k]!), await tarOf(corpus[k]!), k);
});

test('xattrs: BLAKE3 of files and directories, narHash of store path roots (as Nix computes it)', async (t) => {
  const root = mounted.rich!;
  const dump = await sh('getfattr', ['-d', '--absolute-names', root]);
  const narHash = (await sh('nix', ['hash', 'path', corpus.rich!], { env: NIX_ENV })).trim();
  t.true(narHash.startsWith('sha256-'));
  t.true(dump.includes(`user.tsix.narhash="${narHash}"`), dump);
  t.regex(dump, /user\.tsix\.blake3="[0-9a-f]{64}"/);
  for (const rel of ['a/hello.txt', 'big.bin', 'empty-file', 'bin-tool']) {
    const v = (await sh('getfattr', ['--only-values', '-n', 'user.tsix.blake3', join(root, rel)])).trim();
    t.is(v, blake3(await readFile(join(corpus.rich!, rel))).toString('hex'), rel);
  }
  const inner = await sh('getfattr', ['-d', '--absolute-names', join(root, 'a')]);
  t.false(inner.includes('narhash'), 'only store path roots carry a narHash');
  const fileRoot = await sh('getfattr', ['-d', '--absolute-names', mounted['single-file']!]);
  t.true(fileRoot.includes('user.tsix.narhash="sha256-'), 'a single-file store path has a narHash too');
  const err = await sh('getfattr', ['-n', 'user.nope', join(root, 'a/hello.txt')]).catch((e: { stderr: string }) => e.stderr);
  t.regex(err, /No such attribute/);
});

test('every write fails with EROFS', async (t) => {
  const root = mounted.rich!;
  const f = join(root, 'a/hello.txt');
  const attempts: [string, () => Promise<unknown>][] = [
    ['create', () => writeFile(join(root, 'new-file'), 'x')],
    ['overwrite', () => writeFile(f, 'x')],
    ['append', () => appendFile(f, 'x')],
    ['open for writing', () => open(f, 'r+')],
    ['mkdir', () => mkdir(join(root, 'new-dir'))],
    ['rmdir', () => rmdir(join(root, 'empty-dir'))],
    ['unlink', () => unlink(f)],
    ['rename', () => rename(f, join(root, 'renamed'))],
    ['chmod', () => chmod(f, 0o777)],
    ['truncate', () => truncate(f, 0)],
    ['symlink', () => symlink('x', join(root, 'new-link'))],
    ['utimes', () => utimes(f, 5, 5)],
  ];
  for (const [what, f2] of attempts) {
    const err = await t.throwsAsync(f2(), undefined, what);
    t.is((err as NodeJS.ErrnoException).code, 'EROFS', what);
  }
  const setf = await sh('setfattr', ['-n', 'user.x', '-v', '1', f]).catch((e: { stderr: string }) => e.stderr);
  t.regex(setf, /Read-only file system/);
  t.is(await readFile(f, 'utf8'), 'hello world\n', 'nothing changed');
});

test('reads at random offsets of a multi-MiB file return the original bytes', async (t) => {
  const orig = await readFile(join(corpus.rich!, 'big.bin'));
  t.true(orig.length > 3 << 20);
  await checkRandomReads(t, join(mounted.rich!, 'big.bin'), orig, { count: 200, maxLen: 600_000 });
  t.is((await sh('sha256sum', [join(mounted.rich!, 'big.bin')])).split(' ')[0], (await sh('sha256sum', [join(corpus.rich!, 'big.bin')])).split(' ')[0]);
});

test('the root: store paths are found by name, unknown or malformed names are ENOENT, listing is refused', async (t) => {
  t.true((await stat(mounted.rich!)).isDirectory());
  t.true((await lstat(mounted['single-symlink']!)).isSymbolicLink());
  const unknown = join(mnt, `${'0'.repeat(32)}-nothing`);
  t.is((await t.throwsAsync(stat(unknown)) as NodeJS.ErrnoException).code, 'ENOENT');
  t.is((await t.throwsAsync(stat(join(mnt, 'not-a-store-path'))) as NodeJS.ErrnoException).code, 'ENOENT');
  // A known hash part with another name is a different (absent) path.
  const h = basename(mounted.rich!).slice(0, 32);
  t.is((await t.throwsAsync(stat(join(mnt, `${h}-other`))) as NodeJS.ErrnoException).code, 'ENOENT');
  t.is((await t.throwsAsync(readdir(mnt)) as NodeJS.ErrnoException).code, 'EACCES');
  t.is((await stat(mnt)).mode & 0o777, 0o111, 'the root is search-only');
});
