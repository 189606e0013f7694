// Import from derivation with a daemon running: the client's evaluation has the daemon realise
// the path (rpc ensurePath) and reads it through the daemon's mount.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launchDaemon, requireFuse } from '../daemon/daemon-harness.js';
import { tsix } from '../helpers/cli.js';
import { NIX_ENV, requireNix } from '../helpers/nix.js';

const run = promisify(execFile);
const SANDBOX = ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox'];

test('tsix eval, instantiate and build with IFD through a running daemon equal Nix', async (t) => {
  requireNix();
  await requireFuse();
  const dir = await mkdtemp(join(tmpdir(), 'tsix-ifd-daemon-'));
  await chmod(dir, 0o755);
  const nonce = `${process.pid}-${Date.now()}`;
  const store = `level://${dir}/store`;
  const daemon = await launchDaemon(['--store', store, '--allow-other'], join(dir, 'mnt'));
  try {
    const file = join(dir, 'ifd.nix');
    await writeFile(file, `let
      gen = derivation { name = "gen-d"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "${nonce}";
        args = [ "-c" "echo '{ v = 42; name = \\"via-daemon\\"; }' > $out" ]; };
      a = import gen;
    in { v = a.v; d = derivation { inherit (a) name; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ok > $out" ]; nonce = "${nonce}"; }; }`);
    // Refused first (nothing built yet), with Nix's message.
    const refused = await tsix(['--store', store, 'instantiate', '--option', 'allow-import-from-derivation', 'false', '-A', 'd', file]);
    t.is(refused.code, 1);
    t.regex(refused.stderr, /^error: cannot build '\/nix\/store\/[a-z0-9]{32}-gen-d\.drv' during evaluation because the option 'allow-import-from-derivation' is disabled$/m);
    const ev = await tsix(['--store', store, 'eval', '-A', 'v', file]);
    t.is(ev.code, 0, ev.stderr);
    t.is(ev.stdout.toString(), '42\n');
    const inst = await tsix(['--store', store, 'instantiate', '-A', 'd', file]);
    t.is(inst.code, 0, inst.stderr);
    const build = await tsix(['--store', store, 'build', '--no-out-link', '-A', 'd', file]);
    t.is(build.code, 0, build.stderr);
    const nixInst = await run('nix-instantiate', [...SANDBOX, '-A', 'd', file], { env: NIX_ENV });
    t.is(inst.stdout.toString(), String(nixInst.stdout));
    const nixBuild = await run('nix-build', [...SANDBOX, '--no-out-link', '-A', 'd', file], { env: NIX_ENV });
    t.is(build.stdout.toString(), String(nixBuild.stdout));
  } finally {
    await daemon.stop();
    await daemon.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
