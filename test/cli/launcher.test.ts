// The tsix command as npm installs it (daemon/cli/tsix): the malloc settings it gives Node, with a
// user's own GLIBC_TUNABLES still applied after them (later assignments win in glibc).
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
