// Import from derivation (IFD) in `tsix eval`, `tsix instantiate` and `tsix build`, compared with
// Nix 2.8 (nix-instantiate --eval --read-write-mode / nix-instantiate / nix-build in its sandbox).
// Every expression carries a fresh nonce, and tsix runs before Nix: the outputs it reads cannot
// come from this machine's /nix/store (Nix has not built them yet), only from the tsix store.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tsix } from '../helpers/cli.js';
import { NIX_ENV, requireNix } from '../helpers/nix.js';

const run = promisify(execFile);
const SANDBOX = ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox'];

async function nixRun(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(cmd, [...SANDBOX, ...args], { env: NIX_ENV, maxBuffer: 1 << 26 });
    return { code: 0, stdout: String(r.stdout), stderr: String(r.stderr) };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
  }
}

interface Ctx { dir: string; store: string; nonce: string; env: NodeJS.ProcessEnv }

/** Mounts left under the test's directory (its tsix runs mount their local sessions there, through TMPDIR): none may be. */
async function ourMounts(c: Ctx): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(c.dir + '/'));
}

async function setup(t: import('ava').ExecutionContext): Promise<Ctx> {
  requireNix();
  const dir = await mkdtemp(join(tmpdir(), 'tsix-ifd-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755); // builds run as other users and pass through TMPDIR (their rootfs lives there)
  return { dir, store: `level://${dir}/store`, nonce: `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`, env: { TMPDIR: dir } };
}

const drv = (name: string, script: string, nonce: string) =>
  `derivation { name = "${name}"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "${nonce}"; args = [ "-c" ${JSON.stringify(script).replace(/\$\{/g, '\\${')} ]; }`;

function valuesExpr(nonce: string): string {
  return `let
    gen = ${drv('gen-nix', `echo '{ a = 1; b = "two"; c = [ 3 4 ]; }' > $out`, nonce)};
    genDir = ${drv('gen-nix-dir', `mkdir $out && echo '{ x = import ./x.nix; }' > $out/default.nix && echo '"in-dir"' > $out/x.nix`, nonce)};
    js = ${drv('gen-json', `echo '{"x": [1, 2.5, {"y": "z"}], "n": null, "t": true}' > $out`, nonce)};
    dir = ${drv('gen-dir', `mkdir -p $out/sub && echo hi > $out/file && ln -s file $out/link`, nonce)};
  in {
    imported = import gen;
    fromDir = import genDir;
    scoped = scopedImport { y = 5; } (builtins.toFile "s.nix" "y + 1");
    json = builtins.fromJSON (builtins.readFile js);
    dir = builtins.readDir dir;
    exists = builtins.pathExists "\${dir}/file";
    missing = builtins.pathExists "\${dir}/nothing";
    text = builtins.readFile "\${dir}/sub/../file";
    hash = builtins.hashFile "sha256" "\${dir}/file";
  }`;
}

test('tsix eval: import, readFile+fromJSON, readDir, pathExists of built outputs equal Nix', async (t) => {
  const c = await setup(t);
  const file = join(c.dir, 'values.nix');
  await writeFile(file, valuesExpr(c.nonce));
  const mine = await tsix(['--store', c.store, 'eval', '--strict', '--json', file], { env: c.env });
  t.is(mine.code, 0, mine.stderr);
  const nix = await nixRun('nix-instantiate', ['--eval', '--read-write-mode', '--strict', '--json', file]);
  t.is(nix.code, 0, nix.stderr);
  t.deepEqual(JSON.parse(mine.stdout.toString()), JSON.parse(nix.stdout));
  // tsix built the outputs itself (Nix had not built them when tsix read them).
  t.regex(mine.stderr, /building '\/nix\/store\/[a-z0-9]{32}-gen-json\.drv'/);
  t.deepEqual(await ourMounts(c), []);
});

function sourcesFromIfd(nonce: string): string {
  return `let
    gen = ${drv('gen-src', `mkdir -p $out/d && echo data > $out/d/f && echo skip > $out/d/g && echo '{ src = ./d; s = "\${./d/f}"; }' > $out/default.nix`, nonce)};
    g = import gen;
  in {
    values = { a = "\${g.src}"; b = g.s; c = builtins.path { path = "\${gen}/d"; name = "filtered"; filter = p: t: baseNameOf p != "g"; }; };
    useSrc = derivation { name = "use-src"; system = "x86_64-linux"; builder = "/bin/sh"; src = g.src; args = [ "-c" "cat $src/f $src/g > $out" ]; };
  }`;
}

test('paths inside IFD outputs copied to the store (path values, builtins.path with a filter) equal Nix, and build', async (t) => {
  const c = await setup(t);
  const file = join(c.dir, 'sources.nix');
  await writeFile(file, sourcesFromIfd(c.nonce));
  const mine = await tsix(['--store', c.store, 'eval', '--strict', '--json', '-A', 'values', file], { env: c.env });
  t.is(mine.code, 0, mine.stderr);
  const built = await tsix(['--store', c.store, 'build', '--no-out-link', '-A', 'useSrc', file], { env: c.env });
  t.is(built.code, 0, built.stderr);
  const nix = await nixRun('nix-instantiate', ['--eval', '--read-write-mode', '--strict', '--json', '-A', 'values', file]);
  t.is(nix.code, 0, nix.stderr);
  t.deepEqual(JSON.parse(mine.stdout.toString()), JSON.parse(nix.stdout));
  const nixBuilt = await nixRun('nix-build', ['--no-out-link', '-A', 'useSrc', file]);
  t.is(built.stdout.toString(), nixBuilt.stdout);
  t.deepEqual(await ourMounts(c), []);
});

test('a -I/NIX_PATH entry in the store is realised from a derivation recorded by an earlier instantiation', async (t) => {
  const c = await setup(t);
  const file = join(c.dir, 'gen.nix');
  await writeFile(file, drv('gen-np', `mkdir $out && echo '{ v = "from-nix-path"; }' > $out/default.nix`, c.nonce));
  const inst = await tsix(['--store', c.store, 'instantiate', file], { env: c.env });
  t.is(inst.code, 0, inst.stderr);
  const out = JSON.parse((await nixRun('nix-instantiate', ['--eval', '--json', '-E', `(import ${file}).outPath`])).stdout) as string;
  const mine = await tsix(['--store', c.store, 'eval', '-I', `gen=${out}`, '-E', 'import <gen>'], { env: { ...c.env, NIX_PATH: `gen2=${out}` } });
  t.is(mine.code, 0, mine.stderr);
  const viaEnv = await tsix(['--store', c.store, 'eval', '-E', '(import <gen2>).v'], { env: { ...c.env, NIX_PATH: `gen2=${out}` } });
  t.is(viaEnv.code, 0, viaEnv.stderr);
  // Nix reads such a path only once it is built (it realises string context, not search paths).
  t.is((await nixRun('nix-build', ['--no-out-link', file])).code, 0);
  const nix = await nixRun('nix-instantiate', ['--eval', '-I', `gen=${out}`, '-E', 'import <gen>']);
  t.is(mine.stdout.toString(), nix.stdout);
  t.is(viaEnv.stdout.toString(), '"from-nix-path"\n');
  t.deepEqual(await ourMounts(c), []);
});

test('tsix eval: a store path that nobody can produce reads as missing, as in Nix', async (t) => {
  const c = await setup(t);
  const p = `/nix/store/${'a'.repeat(32)}-tsix-ifd-${c.nonce.replace(/[^a-z0-9-]/g, '')}`;
  for (const e of [`builtins.pathExists ${p}`, `builtins.readFile ${p}`, `import ${p}`]) {
    const mine = await tsix(['--store', c.store, 'eval', '-E', e], { env: c.env });
    const nix = await nixRun('nix-instantiate', ['--eval', '-E', e]);
    t.is(mine.code === 0, nix.code === 0, `${e}: ${mine.stderr}`);
    if (nix.code === 0) t.is(mine.stdout.toString(), nix.stdout, e);
    else t.is(mine.stderr.split('\n')[0], nix.stderr.split('\n')[0], e);
  }
  t.deepEqual(await ourMounts(c), []);
});

function attrsFromIfd(nonce: string): string {
  return `let
    gen = ${drv('gen-attrs', `echo '{ name = "from-ifd"; cmd = "echo built-from-ifd > $out"; }' > $out`, nonce)};
    a = import gen;
  in derivation { inherit (a) name; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" a.cmd ]; nonce = "${nonce}"; }`;
}

test('tsix instantiate: a derivation whose attributes come from IFD has Nix\'s .drv path', async (t) => {
  const c = await setup(t);
  const file = join(c.dir, 'attrs.nix');
  await writeFile(file, attrsFromIfd(c.nonce));
  const mine = await tsix(['--store', c.store, 'instantiate', file], { env: c.env });
  t.is(mine.code, 0, mine.stderr);
  const nix = await nixRun('nix-instantiate', [file]);
  t.is(nix.code, 0, nix.stderr);
  t.is(mine.stdout.toString(), nix.stdout);
  t.regex(mine.stdout.toString(), /-from-ifd\.drv\n$/);
  t.deepEqual(await ourMounts(c), []);
});

test('tsix build: builds a derivation whose attributes come from IFD, same output path as nix-build', async (t) => {
  const c = await setup(t);
  const file = join(c.dir, 'attrs.nix');
  await writeFile(file, attrsFromIfd(c.nonce));
  const mine = await tsix(['--store', c.store, 'build', '--no-out-link', file], { env: c.env });
  t.is(mine.code, 0, mine.stderr);
  const nix = await nixRun('nix-build', ['--no-out-link', file]);
  t.is(nix.code, 0, nix.stderr);
  t.is(mine.stdout.toString(), nix.stdout);
  // The built output is in the tsix store.
  const info = await tsix(['--store', c.store, 'path-info', mine.stdout.toString().trim()], { env: c.env });
  t.is(info.code, 0, info.stderr);
  t.deepEqual(await ourMounts(c), []);
});

test('--option allow-import-from-derivation false refuses as Nix does (eval, instantiate, build)', async (t) => {
  const c = await setup(t);
  const file = join(c.dir, 'attrs.nix');
  await writeFile(file, attrsFromIfd(c.nonce));
  const off = ['--option', 'allow-import-from-derivation', 'false'];
  const nix = await nixRun('nix-instantiate', [...off, file]);
  t.is(nix.code, 1);
  const want = nix.stderr.split('\n').find((l) => l.startsWith('error: '))!;
  t.regex(want, /^error: cannot build '\/nix\/store\/[a-z0-9]{32}-gen-attrs\.drv' during evaluation because the option 'allow-import-from-derivation' is disabled$/);
  for (const args of [['instantiate', ...off, file], ['eval', '--strict', ...off, file], ['build', '--no-out-link', ...off, file], ['instantiate', '--no-ifd', file]]) {
    const mine = await tsix(['--store', c.store, ...args], { env: c.env });
    t.is(mine.code, 1, args.join(' '));
    t.is(mine.stderr.split('\n').find((l) => l.startsWith('error: ')), want, args.join(' '));
    t.is(mine.stdout.toString(), '', args.join(' '));
  }
  // Allowed explicitly: works.
  const ok = await tsix(['--store', c.store, 'instantiate', '--option', 'allow-import-from-derivation', 'true', file], { env: c.env });
  t.is(ok.code, 0, ok.stderr);
  // Built now, and still refused (Nix refuses any read through a derivation output's context).
  const again = await tsix(['--store', c.store, 'instantiate', ...off, file], { env: c.env });
  t.is(again.code, 1);
  t.is(again.stderr.split('\n').find((l) => l.startsWith('error: ')), want);
  t.deepEqual(await ourMounts(c), []);
});

test('a failing IFD build fails the evaluation with the build error', async (t) => {
  const c = await setup(t);
  const e = `import (${drv('ifd-fails', 'echo oops >&2; exit 3', c.nonce)})`;
  const mine = await tsix(['--store', c.store, 'eval', '-E', e], { env: c.env });
  const nix = await nixRun('nix-instantiate', ['--eval', '--read-write-mode', '-E', e]);
  t.is(mine.code, nix.code); // 100, as a failed build
  const firstError = (s: string) => s.split('\n').find((l) => l.startsWith('error: '))?.replace(/;$/, '');
  t.is(firstError(mine.stderr), firstError(nix.stderr));
  t.regex(firstError(mine.stderr) ?? '', /^error: builder for '\/nix\/store\/[a-z0-9]{32}-ifd-fails\.drv' failed with exit code 3$/);
  t.regex(mine.stderr, /oops/);
  t.deepEqual(await ourMounts(c), []);
});
