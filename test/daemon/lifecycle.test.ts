// The daemon's life: clean stop on signals, recovery from a killed daemon's stale mount, clear
// refusals of unusable mount points, and client commands through its socket while it runs.
import test from 'ava';
import { chmod, lstat, mkdir, stat, statfs, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { tsix, tsixOk } from '../helpers/cli.js';
import { makeRichTree, tempDir } from '../helpers/trees.js';
import { contentView, describeTree } from '../fs/tree-compare.js';
import { isMounted, launchDaemon, requireFuse, startDaemon } from './daemon-harness.js';

const execFileP = promisify(execFile);

test.before(async () => {
  await requireFuse();
});

async function temp(t: import('ava').ExecutionContext): Promise<string> {
  const tmp = await tempDir('tsix-daemon-');
  t.teardown(tmp.cleanup);
  return tmp.dir;
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} unmounts and exits 0`, async (t) => {
    const dir = await temp(t);
    const mnt = join(dir, 'mnt');
    const d = await startDaemon(t, ['--store', 'memory://'], mnt);
    t.true(await isMounted(mnt));
    t.true(d.stdout().includes(`mounted at ${mnt}`), 'the mount point is printed');
    d.proc.kill(signal);
    t.is(await d.exited, 0, d.stderr());
    t.false(await isMounted(mnt));
    t.true(d.stdout().includes('stopped'));
  });
}

test('a stale mount left by a killed daemon is cleaned up at the next start; inode numbers survive', async (t) => {
  const dir = await temp(t);
  const mnt = join(dir, 'mnt');
  const url = `level://${join(dir, 'store')}`;
  const src = await makeRichTree(join(dir, 'src'), { bigFileBytes: 1000 });
  const base = basename((await tsixOk(['--store', url, 'store', 'add', src])).trim());
  const d1 = await startDaemon(t, ['--store', url], mnt);
  const ino = (await stat(join(mnt, base, 'a/hello.txt'))).ino;
  d1.proc.kill('SIGKILL');
  await d1.exited;
  t.true(await isMounted(mnt), 'the killed daemon left its mount behind');
  t.is((await t.throwsAsync(statfs(mnt)) as NodeJS.ErrnoException).code, 'ENOTCONN');
  const d2 = await startDaemon(t, ['--store', url], mnt);
  t.deepEqual(contentView(await describeTree(join(mnt, base))), contentView(await describeTree(src)));
  t.is((await stat(join(mnt, base, 'a/hello.txt'))).ino, ino);
  t.is(await d2.stop(), 0);
  t.false(await isMounted(mnt));
});

test('a daemon whose mount is unmounted from outside stops with exit code 1', async (t) => {
  const dir = await temp(t);
  const mnt = join(dir, 'mnt');
  const d = await startDaemon(t, ['--store', 'memory://'], mnt);
  await execFileP('umount', ['-l', mnt]);
  t.is(await d.exited, 1);
  t.regex(d.stderr(), /the mount at .*mnt disappeared/);
  t.false(await isMounted(mnt));
});

test('unusable mount points are refused with a clear message', async (t) => {
  const dir = await temp(t);
  const mnt = join(dir, 'mnt');
  await startDaemon(t, ['--store', 'memory://'], mnt);
  const busy = await t.throwsAsync(launchDaemon(['--store', 'memory://'], mnt));
  t.regex(busy!.message, /mount point .*mnt: already in use: a fuse\.tsix filesystem .* another tsix daemon running/);
  t.true(await isMounted(mnt), 'the running daemon keeps its mount');

  const file = join(dir, 'file');
  await writeFile(file, 'x');
  t.regex((await t.throwsAsync(launchDaemon(['--store', 'memory://'], file)))!.message, /mount point .*file: not a directory/);
  const full = join(dir, 'full');
  await mkdir(full);
  await writeFile(join(full, 'something'), 'x');
  t.regex((await t.throwsAsync(launchDaemon(['--store', 'memory://'], full)))!.message, /mount point .*full: not empty/);
  const r = await tsix(['daemon', '--store', 'memory://', '--mount', file]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^error: mount point/);
});

test('client commands go through the socket while mounted; a path added through it appears in the mount at once', async (t) => {
  const dir = await temp(t);
  const mnt = join(dir, 'mnt');
  const storeDir = join(dir, 'store');
  const url = `level://${storeDir}`;
  await startDaemon(t, ['--store', url], mnt);
  const sock = await lstat(join(storeDir, 'daemon.sock'));
  t.true(sock.isSocket());
  t.is(sock.mode & 0o777, 0o600);
  t.is((await stat(storeDir)).mode & 0o777, 0o700);

  const src = await makeRichTree(join(dir, 'src'));
  await chmod(src, 0o755);
  // Where it will land (content-addressed: the same in any store).
  const expected = (await tsixOk(['--store', 'memory://', 'store', 'add', src])).trim();
  const inMount = join(mnt, basename(expected));
  t.is((await t.throwsAsync(stat(inMount)) as NodeJS.ErrnoException).code, 'ENOENT', 'not there yet');
  const added = (await tsixOk(['--store', url, 'store', 'add', src])).trim();
  t.is(added, expected);
  t.true((await stat(inMount)).isDirectory(), 'found right after the add: misses are not cached');
  t.deepEqual(contentView(await describeTree(inMount)), contentView(await describeTree(src)));
  t.is(await tsixOk(['--store', url, 'store', 'cat', `${added}/a/hello.txt`]), 'hello world\n');
  t.regex(await tsixOk(['--store', url, 'store', 'ls', added]), /hello|a/);
});
