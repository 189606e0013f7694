// The lazy /nix/store: a lookup under a real daemon mount builds a recorded derivation's output
// (and its dependencies) on the spot; what nobody can produce is ENOENT; a failed build is EIO;
// concurrent readers of one missing path share one build.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openStore } from '../../store/open-store.js';
import { launchDaemon, requireFuse, type DaemonProcess } from '../daemon/daemon-harness.js';
import { NIX_ENV, requireNix } from '../helpers/nix.js';
import { importClosureFromNix } from '../helpers/nix-import.js';
import { sourcePath } from '../helpers/paths.js';
import { tempDir } from '../helpers/trees.js';
import { tsix } from '../helpers/cli.js';

const run = promisify(execFile);
const CORPUS = sourcePath('test/coordinator/corpus/parity.nix');

let work: Awaited<ReturnType<typeof tempDir>>;
let daemon: DaemonProcess | null = null;
const out = new Map<string, string>();
let failingOut = '';
let mnt = '';

/** .drv paths by attribute name, and output paths. */
function instantiate(expr: string[], attrs: string[]): string[] {
  return execFileSync('nix-instantiate', [...expr, ...attrs.flatMap((a) => ['-A', a])], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n');
}

function outPath(drv: string, output = 'out'): string {
  const j = JSON.parse(execFileSync('nix', ['show-derivation', drv], { env: NIX_ENV, encoding: 'utf8' }));
  return j[drv].outputs[output].path;
}

test.before(async () => {
  requireNix();
  await requireFuse();
  work = await tempDir('tsix-lazy-');
  const attrs = ['chain-c', 'diamond-bottom', 'hello'];
  const drvs = instantiate([CORPUS], attrs);
  attrs.forEach((a, i) => out.set(a, outPath(drvs[i]!)));
  const [failing] = instantiate(['-E', 'derivation { name = "fails"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo going to fail; exit 3"]; }'], []);
  failingOut = outPath(failing!);
  const url = `level://${join(work.dir, 'store')}`;
  const store = await openStore(url, { direct: true });
  try {
    await importClosureFromNix(store, [...drvs, failing!]);
  } finally {
    await store.close();
  }
  mnt = join(work.dir, 'mnt');
  daemon = await launchDaemon(['--store', url, '--allow-other'], mnt, { TSIX_LOG: 'info' });
});

test.after.always(async () => {
  if (daemon) {
    await daemon.stop();
    await daemon.kill();
  }
  await work?.cleanup();
});

const basename = (p: string) => p.slice('/nix/store/'.length);
function builds(drvName: string): number {
  return daemon!.stderr().split('\n').filter((l) => l.includes('"msg":"building"') && l.includes(`-${drvName}.drv`)).length;
}

test.serial('ls of a missing output builds it and its dependencies, then shows its files', async (t) => {
  const { stdout } = await run('ls', [join(mnt, basename(out.get('chain-c')!))]);
  t.deepEqual(stdout.trim().split('\n'), ['b', 'c']);
  for (const d of ['chain-a', 'chain-b', 'chain-c']) t.is(builds(d), 1, `${d} built once`);
  const { stdout: c } = await run('cat', [join(mnt, basename(out.get('chain-c')!), 'c')]);
  t.is(c, 'a\nb\n');
  t.is(builds('chain-c'), 1, 'the second read is served from the store');
});

test.serial('a path no derivation produces is ENOENT', async (t) => {
  const err = await run('ls', [join(mnt, `${'0'.repeat(32)}-nothing`)]).then(() => null, (e: { stderr: string }) => e);
  t.regex(err?.stderr ?? '', /No such file or directory/);
});

test.serial('20 concurrent readers of one missing path cause exactly one build', async (t) => {
  const file = join(mnt, basename(out.get('diamond-bottom')!), 'both');
  const results = await Promise.all(Array.from({ length: 20 }, () => run('cat', [file])));
  for (const r of results) t.regex(r.stdout, /^left \/nix\/store\/[0-9a-z]{32}-diamond-top\nright \/nix\/store\/[0-9a-z]{32}-diamond-top\n$/);
  t.is(builds('diamond-bottom'), 1);
  t.is(builds('diamond-top'), 1);
});

test.serial('a failing build answers EIO and is logged with its derivation', async (t) => {
  const err = await run('cat', [join(mnt, basename(failingOut))]).then(() => null, (e: { stderr: string }) => e);
  t.regex(err?.stderr ?? '', /Input\/output error/);
  // The daemon's log reaches us through a pipe, possibly after the reply: wait for it (bounded).
  for (let i = 0; i < 50 && !/fails\.drv.*failed with exit code 3/.test(daemon!.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
  t.regex(daemon!.stderr(), /fails\.drv.*failed with exit code 3/);
});

test.serial('tsix status through the socket shows the recent failure', async (t) => {
  const s = execFileSync(process.execPath, [new URL('../../daemon/cli/main.js', import.meta.url).pathname, '--store', `level://${join(work.dir, 'store')}`, 'status', '--json'], { encoding: 'utf8' });
  const status = JSON.parse(s) as { failures: { drvPath: string }[]; mountPoint: string };
  t.is(status.mountPoint, mnt);
  t.true(status.failures.some((f) => f.drvPath.endsWith('-fails.drv')));
});

test.serial('several tsix build clients at once build through the daemon, sharing what they share', async (t) => {
  const url = `level://${join(work.dir, 'store')}`;
  const attrs = ['uses-dev', 'cross-outputs', 'self-ref'];
  const results = await Promise.all(attrs.map((a) => tsix(['--store', url, 'build', CORPUS, '-A', a, '--arg', 'fetchBase', '"http://127.0.0.1:1"', '--no-out-link'])));
  const expected = execFileSync('nix-instantiate', ['--eval', '--strict', '--json', '-E', `map (a: (import ${CORPUS} { fetchBase = "http://127.0.0.1:1"; }).\${a}.outPath) [ ${attrs.map((a) => JSON.stringify(a)).join(' ')} ]`], { env: NIX_ENV, encoding: 'utf8' });
  t.deepEqual(results.map((r) => r.stdout.toString().trim()), JSON.parse(expected));
  for (const r of results) t.is(r.code, 0, r.stderr);
  t.is(builds('multi'), 1, 'the shared dependency was built once');
  for (const a of attrs) {
    const p = results[attrs.indexOf(a)]!.stdout.toString().trim();
    const { stdout } = await run('ls', [join(mnt, basename(p))]);
    t.truthy(stdout, `${a} is visible in the mount`);
  }
});

test.serial('a result link into the mount names its store path to path-info, store ls and show-derivation', async (t) => {
  const url = `level://${join(work.dir, 'store')}`;
  const link = join(work.dir, 'result-self-ref');
  const built = await tsix(['--store', url, 'build', CORPUS, '-A', 'self-ref', '--arg', 'fetchBase', '"http://127.0.0.1:1"', '-o', link]);
  t.is(built.code, 0, built.stderr);
  const out = built.stdout.toString().trim();
  t.true((await readlink(link)).startsWith(mnt + '/'), 'the link points into the mount');
  const info = await tsix(['--store', url, 'path-info', link]);
  t.is(info.stdout.toString(), `${out}\n`, info.stderr);
  const ls = await tsix(['--store', url, 'store', 'ls', link]);
  const theirs = execFileSync('nix', ['store', 'ls', out], { env: NIX_ENV, encoding: 'utf8' });
  t.is(ls.stdout.toString(), theirs);
  const drv = await tsix(['--store', url, 'show-derivation', link]);
  t.is(Object.keys(JSON.parse(drv.stdout.toString()))[0], execFileSync('nix-instantiate', [CORPUS, '-A', 'self-ref', '--arg', 'fetchBase', '"http://127.0.0.1:1"'], { env: NIX_ENV, encoding: 'utf8' }).trim());
  const outside = await tsix(['--store', url, 'path-info', work.dir]);
  t.is(outside.code, 1);
  t.regex(outside.stderr, /is not in the Nix store/);
});
