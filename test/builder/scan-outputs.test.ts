// Output reference scanning, against the references real Nix 2.8 records for the same output.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { scanOutputs, scanTree } from '../../builder/scan-outputs.js';
import { fakeHash } from './build-service-conformance.js';

const NIX_ENV = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =' };
const hashOf = (storePath: string): string => basename(storePath).slice(0, 32);

test('the references found equal those Nix records (contents, symlink targets, names, a hash across 1 MiB reads, self)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-scan-'));
  try {
    const tag = `${process.pid}-${Date.now()}`;
    const expr = join(dir, 'refs.nix');
    // Each input is referenced one way; `unused` is an input that the output does not mention.
    await writeFile(expr, `
      let mk = n: builtins.toFile "scan-\${n}-${tag}" n;
          content = mk "content"; link = mk "link"; named = mk "named"; split = mk "split"; unused = mk "unused";
      in derivation {
        name = "scan-out-${tag}"; system = builtins.currentSystem; builder = "/bin/sh";
        inherit content link named split unused;
        args = [ "-c" ''
          mkdir -p $out/sub
          echo "uses $content" > $out/sub/file
          ln -s $link $out/link
          touch "$out/sub/\${builtins.substring 11 32 named}-named"
          head -c 1048570 /dev/zero | tr '\\0' x > $out/big
          echo $split >> $out/big
          echo $out > $out/self
        '' ];
      }`);
    const drv = execFileSync('nix-instantiate', [expr], { env: NIX_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const out = execFileSync('nix-build', ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox', '--no-out-link', drv], { env: NIX_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    const inputs = execFileSync('nix-store', ['-q', '--references', drv], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n').filter((p) => !p.endsWith('.drv'));
    const nixRefs = execFileSync('nix-store', ['-q', '--references', out], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n').map(hashOf);
    const needles = [...inputs.map(hashOf), hashOf(out), fakeHash('never')];
    t.is(inputs.length, 5);
    t.deepEqual((await scanTree(out, needles)).sort(), nixRefs.sort());
    t.is(nixRefs.length, 5, 'four inputs and the output itself');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('names that are not UTF-8, symlink roots, absent outputs, and file types a store cannot hold', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-scan-'));
  try {
    const [a, b, c] = [fakeHash('a'), fakeHash('b'), fakeHash('c')];
    const tree = join(dir, 'tree');
    await mkdir(tree);
    await writeFile(Buffer.concat([Buffer.from(`${tree}/\xff\xfe`, 'latin1'), Buffer.from(`-${a}`)]), `${b}`);
    await symlink(`/nix/store/${c}-x`, join(dir, 'link'));
    t.deepEqual((await scanTree(tree, [a, b, c])).sort(), [a, b].sort());
    t.deepEqual(await scanOutputs([join(dir, 'link'), null, tree], [a, c]), [[c], [], [a]]);
    execFileSync('mkfifo', [join(tree, 'fifo')]);
    const err = await t.throwsAsync(scanTree(tree, [fakeHash('d')]));
    t.is((err as { code?: string }).code, 'E_INVALID_INPUT');
    t.regex(err!.message, /fifo is neither a regular file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
