// The tsix command as npm installs it (daemon/cli/tsix): the malloc settings it gives Node, with a
// user's own GLIBC_TUNABLES still applied after them (later assignments win in glibc).
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sourcePath } from '../helpers/paths.js';

const LAUNCHER = sourcePath('daemon/cli/tsix');
const OURS = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';

function tunablesSeen(env: NodeJS.ProcessEnv): string {
  return execFileSync(LAUNCHER, ['eval', '-E', 'builtins.getEnv "GLIBC_TUNABLES"'], { env, encoding: 'utf8' }).trim();
}

test('the launcher sets its malloc tunables, and keeps the user\'s after them', (t) => {
  const { GLIBC_TUNABLES: _drop, ...base } = process.env;
  t.is(tunablesSeen(base), `"${OURS}"`);
  t.is(tunablesSeen({ ...base, GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576' }), `"${OURS}:glibc.malloc.mmap_threshold=1048576"`);
});

/** Starts `tsix ARGS` (long-running), waits for `ready` on its output, returns its node command line. */
async function commandLineOf(args: string[], ready: RegExp): Promise<string[]> {
  const p = spawn(LAUNCHER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const seen = (b: Buffer) => { out += b.toString(); if (ready.test(out)) resolve(); };
      p.stdout!.on('data', seen);
      p.stderr!.on('data', seen);
      p.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('close', r));
  }
}

test('daemon and serve-cache get the larger first old-space limit (found after global options)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsix-launcher-'));
  try {
    const serve = await commandLineOf(['--store', `level://${dir}/a`, 'serve-cache', '--listen', '127.0.0.1:0'], /serving .* at http/);
    t.true(serve.includes('--initial-old-space-size=64'), serve.join(' '));
    const daemon = await commandLineOf(['--store', `level://${dir}/b`, 'daemon', '--no-mount', '--listen', '127.0.0.1:0'], /serving a binary cache at/);
    t.true(daemon.includes('--initial-old-space-size=64'), daemon.join(' '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * `tsix eval --strict -E EXPR` through `launcher`: its output, and the command line of the node
 * process that evaluated it, read while it waits for `fifo` (EXPR must read it: "FIFO").
 */
async function evalThrough(launcher: string, fifo: string, expr: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ out: string; argv: string[] }> {
  const p = spawn(launcher, ['eval', '--strict', '-E', expr.replace('FIFO', fifo)], { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const closed = new Promise<number | null>((r) => p.once('close', r));
  let argv: string[] = [];
  // The launcher is a shell script that execs node: wait for node's command line.
  for (let i = 0; i < 500 && !argv.some((a) => a.endsWith('main.js')); i++) {
    await new Promise((r) => setTimeout(r, 10));
    try { argv = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { break; }
  }
  if (p.exitCode === null) writeFileSync(fifo, 'fifo\n'); // blocks until the evaluation opens it
  const code = await closed;
  if (code !== 0) throw new Error(`tsix eval exited ${code}: ${err}`);
  return { out: out.trim(), argv };
}

test('tsix eval starts from the start-up snapshot, with this run\'s environment, directory and time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsix-snapshot-'));
  try {
    const before = Math.floor(Date.now() / 1000);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await evalThrough(LAUNCHER, fifo, '[ (builtins.getEnv "TSIX_TEST_VAR") <here> ./. (builtins.currentTime >= ' + before + ') (builtins.readFile FIFO) ]', {
      env: { TSIX_TEST_VAR: 'fresh', NIX_PATH: `here=${dir}` }, cwd: dir,
    });
    t.true(r.argv.includes('--snapshot-blob'), r.argv.join(' '));
    t.is(r.out, `[ "fresh" ${dir} ${dir} true "fifo\\n" ]`);
    // Node refuses a snapshot under other V8 flags (exit 14): with NODE_OPTIONS, main.js.
    const flagged = await evalThrough(LAUNCHER, fifo, 'builtins.readFile FIFO', { env: { NODE_OPTIONS: '--max-old-space-size=4096' } });
    t.is(flagged.out, '"fifo\\n"');
    t.false(flagged.argv.includes('--snapshot-blob'), flagged.argv.join(' '));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the launcher starts from main.js when the snapshot is older than the compiled code, or made for another checkout', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tsix-snapshot-copy-'));
  try {
    cpSync(sourcePath('dist'), join(root, 'dist'), { recursive: true });
    mkdirSync(join(root, 'daemon', 'cli'), { recursive: true });
    cpSync(LAUNCHER, join(root, 'daemon', 'cli', 'tsix'));
    symlinkSync(sourcePath('node_modules'), join(root, 'node_modules'));
    const launcher = join(root, 'daemon', 'cli', 'tsix');
    const blob = join(root, 'dist', 'snapshot', 'cli.blob');
    const main = join(root, 'dist', 'daemon', 'cli', 'main.js');
    const forFile = join(root, 'dist', 'snapshot', 'for');
    const [, node] = readFileSync(forFile, 'utf8').split('\n');
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const usesSnapshot = async () => {
      const r = await evalThrough(launcher, fifo, 'builtins.readFile FIFO');
      t.is(r.out, '"fifo\\n"');
      return r.argv.includes('--snapshot-blob');
    };
    t.false(await usesSnapshot(), 'made for another checkout');
    writeFileSync(forFile, `${root}\n${node}\n`);
    const now = Date.now() / 1000;
    utimesSync(main, now, now);
    utimesSync(blob, now - 60, now - 60);
    t.false(await usesSnapshot(), 'older than main.js');
    utimesSync(blob, now + 60, now + 60);
    t.true(await usesSnapshot(), 'for this checkout and newer than main.js');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
