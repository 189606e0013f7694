// tsix's own FUSE server (fs/kernel/): real mounts in this process over an in-memory store, read
// through the kernel with ordinary tools. The point of it: with FUSE_PARALLEL_DIROPS a root lookup
// that waits (for a build) does not hold up lookups of other names; the same content checks also
// run against the libfuse backend so that both stay interchangeable.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { chmod, lstat, mkdir, open, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountStoreFs, type MountedFs } from '../../fs/mount.js';
import type { KernelMountedFs } from '../../fs/kernel/mount-kernel.js';
import { INIT } from '../../fs/kernel/protocol.js';
import type { RootEntry, RootLookup } from '../../fs/root-lookup.js';
import { ingestPath } from '../../store/import/ingest.js';
import { formatHash } from '../../store/nix/hash.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { requireFuse } from '../daemon/daemon-harness.js';
import { makeTreeCorpus, tempDir } from '../helpers/trees.js';
import { contentView, describeTree } from './tree-compare.js';
import { checkRandomReads } from '../helpers/random-reads.js';

const run = promisify(execFile);
const sh = async (cmd: string, args: string[], opts: { cwd?: string } = {}) => (await run(cmd, args, { ...opts, maxBuffer: 256 << 20 })).stdout;

/** A name per corpus key: any `<32 chars>-<name>` works, the lookup here is ours. */
const nameOf = (k: string, i: number) => `${String(i).padStart(32, '0')}-${k}`;

interface Deferred<T> { promise: Promise<T>; resolve(v: T): void }
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let store: Store;
let corpus: Record<string, string> = {};
const entries = new Map<string, RootEntry>();
const mounts: MountedFs[] = [];

/** A root lookup over `entries`, with hooks a test can put in front of particular names. */
function rootsWith(hooks: Record<string, () => Promise<void>> = {}, calls: string[] = []): RootLookup {
  return {
    async lookupRoot(name) {
      calls.push(name);
      await hooks[name]?.();
      return entries.get(name) ?? null;
    },
    async *listRoots() { yield* entries.keys(); },
  };
}

async function mount(backend: 'kernel' | 'libfuse', roots: RootLookup, extra: { allowOther?: boolean; listRoot?: boolean } = {}): Promise<MountedFs> {
  const dir = join(tmp.dir, `mnt-${mounts.length}`);
  const m = await mountStoreFs({ mountPoint: dir, cas: store, roots, backend, ...extra });
  mounts.push(m);
  return m;
}

test.before(async () => {
  await requireFuse();
  tmp = await tempDir('tsix-kfs-');
  await chmod(tmp.dir, 0o755); // other uids reach the allow_other mount
  corpus = await makeTreeCorpus(join(tmp.dir, 'src'));
  store = await openStore('memory://');
  let i = 0;
  for (const [k, path] of Object.entries(corpus)) {
    const r = await ingestPath(store, path);
    entries.set(nameOf(k, i++), { node: r.node, narHash: formatHash({ algo: 'sha256', digest: r.narHash }, 'sri') });
  }
});

test.after.always(async () => {
  for (const m of mounts) await m.unmount().catch(() => undefined);
  await tmp?.cleanup();
});

const keys = () => Object.keys(corpus);
const pathIn = (m: MountedFs, k: string) => join(m.mountPoint, nameOf(k, keys().indexOf(k)));

test.serial('INIT: parallel lookups, async reads, 1 MiB requests, readdirplus, symlink caching and no-open were negotiated', async (t) => {
  const m = await mount('kernel', rootsWith()) as KernelMountedFs;
  const { flags, maxPages, minor } = m.negotiated;
  for (const [name, bit] of Object.entries(INIT)) {
    if (name === 'INIT_EXT' || name === 'ABORT_ERROR') continue;
    t.true((flags & bit) !== 0, `${name} negotiated (kernel minor ${minor})`);
  }
  t.is(maxPages, 256);
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const line = info.split('\n').find((l) => l.split(' ')[4] === m.mountPoint)!;
  t.regex(line, / - fuse\.tsix tsix ro,/);
  await m.unmount();
  t.false((await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${m.mountPoint} `), 'unmounted');
});

test.serial('a root lookup waiting for a build does not hold up other lookups and reads; it then answers with the right content', async (t) => {
  const slowName = nameOf('rich', keys().indexOf('rich'));
  const gate = deferred<void>();
  const entered = deferred<void>();
  const calls: string[] = [];
  const m = await mount('kernel', rootsWith({ [slowName]: () => { entered.resolve(); return gate.promise; } }, calls));
  let slowDone = false;
  // Waiting readers are other processes: blocked in the kernel, they must not hold this
  // process's threadpool, which the checks below need.
  const slow = sh('cat', [join(m.mountPoint, slowName, 'a/hello.txt')]).finally(() => { slowDone = true; });
  // Concurrent lookups of the same missing path wait for the same (single) lookup.
  const sameAgain = Promise.all([1, 2, 3, 4, 5].map(() => sh('stat', ['-c', '%F', join(m.mountPoint, slowName)])));
  await entered.promise;
  // While it waits: other names in the root, files inside other store paths, a miss.
  t.true((await stat(pathIn(m, 'wide'))).isDirectory());
  t.is(await readFile(join(pathIn(m, 'wide'), 'f7'), 'utf8'), 'file 7\n');
  t.is(await readFile(pathIn(m, 'single-file'), 'utf8'), 'just one file\n');
  t.is(await readlink(pathIn(m, 'single-symlink')), '/some/target');
  t.is((await t.throwsAsync(stat(join(m.mountPoint, `${'1'.repeat(32)}-absent`))) as NodeJS.ErrnoException).code, 'ENOENT');
  t.false(slowDone, 'the slow lookup is still waiting while all the others were answered');
  gate.resolve();
  t.is(await slow, 'hello world\n');
  t.deepEqual(await sameAgain, Array(5).fill('directory\n'));
  t.is(calls.filter((c) => c === slowName).length, 1, 'one lookup of the slow name reached the store');
});

test.serial('a lookup that itself reads another store path through the same mount (async) does not deadlock', async (t) => {
  const outer = nameOf('wide', keys().indexOf('wide'));
  const inner = nameOf('rich', keys().indexOf('rich'));
  let seen = '';
  let m: MountedFs | null = null;
  m = await mount('kernel', rootsWith({
    [outer]: async () => {
      seen = await readFile(join(m!.mountPoint, inner, 'a/b/c/deep'), 'utf8');
      await stat(join(m!.mountPoint, inner, 'big.bin'));
    },
  }));
  t.is(await readFile(join(m.mountPoint, outer, 'f1'), 'utf8'), 'file 1\n');
  t.is(seen, 'deep\n'.repeat(100));
});

test.serial('the kernel forgets what it evicts (FORGET/BATCH_FORGET); everything reads back the same afterwards', async (t) => {
  const m = await mount('kernel', rootsWith()) as KernelMountedFs;
  const want = contentView(await describeTree(corpus.rich!));
  t.deepEqual(contentView(await describeTree(pathIn(m, 'rich'))), want);
  t.deepEqual(contentView(await describeTree(pathIn(m, 'wide'))), contentView(await describeTree(corpus.wide!)));
  const before = m.nodeCount();
  t.true(before > 300, `nodes known after walking (${before})`);
  // Drop unused dentries and inodes: the kernel sends FORGETs for all of ours.
  for (let i = 0; i < 100 && m.nodeCount() > 1; i++) {
    await writeFile('/proc/sys/vm/drop_caches', '2');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.is(m.nodeCount(), 1, 'only the root is left');
  t.deepEqual(contentView(await describeTree(pathIn(m, 'rich'))), want);
});

for (const backend of ['kernel', 'libfuse'] as const) {
  test.serial(`${backend}: diff -r, find, tar, modes, xattrs and EROFS as with the originals`, async (t) => {
    const m = await mount(backend, rootsWith());
    for (const k of keys()) t.deepEqual(contentView(await describeTree(pathIn(m, k))), contentView(await describeTree(corpus[k]!)), k);
    for (const k of ['rich', 'wide', 'only-empty-dir']) {
      await t.notThrowsAsync(sh('diff', ['-r', '--no-dereference', corpus[k]!, pathIn(m, k)]), k);
      const tarOf = async (dir: string) => sh('bash', ['-c', `tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner --mode='u=rX,go=rX' -C "$1" -cf - . | sha256sum`, 'tar', dir]);
      t.is(await tarOf(pathIn(m, k)), await tarOf(corpus[k]!), `tar ${k}`);
      // Directory sizes differ between filesystems; everything else must not.
      const list = async (d: string) => (await sh('find', ['.', '-printf', '%y %s %P\\n'], { cwd: d })).split('\n').map((l) => l.replace(/^d \d+ /, 'd ')).sort();
      t.deepEqual(await list(pathIn(m, k)), await list(corpus[k]!), `find ${k}`);
    }
    for (const e of await describeTree(pathIn(m, 'rich'))) {
      t.is(e.mode, e.type === 'directory' ? 0o555 : e.type === 'symlink' ? 0o777 : e.executable ? 0o555 : 0o444, e.rel);
    }
    const root = pathIn(m, 'rich');
    const dump = await sh('getfattr', ['-d', '--absolute-names', root]);
    t.true(dump.includes(`user.tsix.narhash="${entries.get(nameOf('rich', keys().indexOf('rich')))!.narHash}"`), dump);
    t.regex(await sh('getfattr', ['--only-values', '-n', 'user.tsix.blake3', join(root, 'a/hello.txt')]), /^[0-9a-f]{64}$/);
    t.regex(await sh('getfattr', ['-n', 'user.nope', join(root, 'a/hello.txt')]).catch((e: { stderr: string }) => e.stderr), /No such attribute/);
    for (const [what, f] of [
      ['create', () => writeFile(join(root, 'new'), 'x')],
      ['open for writing', () => open(join(root, 'a/hello.txt'), 'r+')],
      ['mkdir', () => mkdir(join(root, 'd'))],
    ] as const) t.is((await t.throwsAsync(f()) as NodeJS.ErrnoException).code, 'EROFS', what);
    t.regex(await sh('setfattr', ['-n', 'user.x', '-v', '1', join(root, 'a/hello.txt')]).catch((e: { stderr: string }) => e.stderr), /Read-only file system/);
    t.is((await t.throwsAsync(readdir(m.mountPoint)) as NodeJS.ErrnoException).code, 'EACCES', 'the root is not listable');
    t.true((await lstat(pathIn(m, 'single-symlink'))).isSymbolicLink());
    await m.unmount();
  });
}

test.serial('kernel: reads at random offsets and sizes up to 2 MiB of a multi-MiB file return the original bytes', async (t) => {
  const m = await mount('kernel', rootsWith());
  const orig = await readFile(join(corpus.rich!, 'big.bin'));
  await checkRandomReads(t, join(pathIn(m, 'rich'), 'big.bin'), orig, { count: 150, maxLen: 2 << 20 });
  t.is((await sh('sha256sum', [join(pathIn(m, 'rich'), 'big.bin')])).split(' ')[0], (await sh('sha256sum', [join(corpus.rich!, 'big.bin')])).split(' ')[0]);
});

test.serial('kernel: with allowOther another uid reads the mount, and the root can be listed with listRoot', async (t) => {
  const m = await mount('kernel', rootsWith(), { allowOther: true, listRoot: true });
  const out = await sh('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'cat', join(pathIn(m, 'rich'), 'a/hello.txt')]);
  t.is(out, 'hello world\n');
  t.deepEqual((await readdir(m.mountPoint)).sort(), [...entries.keys()].sort());
  const other = await mount('kernel', rootsWith());
  const err = await sh('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'cat', join(pathIn(other, 'rich'), 'a/hello.txt')]).catch((e: { stderr: string }) => e.stderr);
  t.regex(err, /Permission denied/, 'without allowOther another uid is refused');
});

test.serial('kernel: a mount unmounted from outside is reported lost; unmount() afterwards is harmless', async (t) => {
  const m = await mount('kernel', rootsWith()) as KernelMountedFs;
  t.is(await readFile(pathIn(m, 'single-file'), 'utf8'), 'just one file\n');
  await sh('umount', [m.mountPoint]);
  await m.lost;
  await t.notThrowsAsync(m.unmount());
  t.false((await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${m.mountPoint} `));
});

test.serial('kernel: a signal to a process waiting on a root lookup ends its wait (EINTR); the lookup itself goes on and is found later', async (t) => {
  const slowName = nameOf('wide', keys().indexOf('wide'));
  const gate = deferred<void>();
  const entered = deferred<void>();
  const calls: string[] = [];
  const m = await mount('kernel', rootsWith({ [slowName]: () => { entered.resolve(); return gate.promise; } }, calls));
  const child = spawn('stat', [join(m.mountPoint, slowName)], { stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.on('exit', (code, sig) => res(code ?? (sig ? -1 : null))));
  await entered.promise;
  child.kill('SIGINT');
  t.not(await exited, 0, 'the waiting process was interrupted before the lookup ended');
  gate.resolve();
  t.is(await readFile(join(m.mountPoint, slowName, 'f3'), 'utf8'), 'file 3\n');
  t.is(calls.filter((c) => c === slowName).length, 1, 'the interrupted lookup was not repeated');
});
