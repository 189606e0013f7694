// `tsix hash` prints exactly what `nix hash` (2.8) prints, and fails where it fails.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tsix } from '../helpers/cli.js';
import { nix, tempDir } from './nix-oracle.js';

async function same(t: import('ava').ExecutionContext, args: string[]): Promise<void> {
  const ours = await tsix(['hash', ...args]);
  const theirs = await nix('nix', ['hash', ...args], { allowFail: true });
  t.is(ours.stdout.toString(), theirs.stdout, `stdout of hash ${args.join(' ')}`);
  t.is(ours.code === 0, theirs.code === 0, `success of hash ${args.join(' ')}: ${ours.stderr}`);
  if (ours.code !== 0) t.regex(ours.stderr, /^error: /);
}

test('tsix hash path|file equals nix hash for every type and format', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const d = join(tmp.dir, 'tree');
  await mkdir(join(d, 'sub'), { recursive: true });
  await writeFile(join(d, 'sub/f'), randomBytes(200_000));
  await writeFile(join(d, 'x'), '#!/bin/sh\n');
  await chmod(join(d, 'x'), 0o755);
  await symlink('sub/f', join(d, 'link'));
  const f = join(d, 'sub/f');
  const link = join(d, 'link');
  for (const sub of ['path', 'file']) {
    await same(t, [sub, f]);
    await same(t, [sub, f, link]);
    // Every type and every format (the formatting itself is covered exhaustively in hash.test).
    const types = ['md5', 'sha1', 'sha256', 'sha512'];
    const fmts = ['--base16', '--base32', '--base64', '--sri'];
    await Promise.all(types.map((type, i) => same(t, [sub, '--type', type, fmts[i]!, f, link])));
    await Promise.all(types.map((type, i) => same(t, [sub, fmts[i]!, '--type', types[(i + 1) % 4]!, f])));
    await same(t, [sub, '--base16', '--sri', f]);
    await same(t, [sub, '--base32', '--base16', '--type', 'sha1', f]);
    await same(t, [sub]);
    await same(t, [sub, join(tmp.dir, 'missing')]);
    await same(t, [sub, '--type', 'sha3', f]);
  }
  await same(t, ['path', d]);
  await same(t, ['path', '--type', 'md5', '--base32', d, link]);
  await same(t, ['file', d]);
  await same(t, ['path', '/dev/null']);
});

test('tsix hash to-* equals nix hash to-*', async (t) => {
  const hashes = ['md5', 'sha1', 'sha256', 'sha512'].map((algo) => {
    const n = { md5: 16, sha1: 20, sha256: 32, sha512: 64 }[algo]!;
    return `${algo}-${randomBytes(n).toString('base64')}`;
  });
  const hex = randomBytes(32).toString('hex');
  await Promise.all(['to-base16', 'to-base32', 'to-base64', 'to-sri'].map(async (to) => {
    await same(t, [to, ...hashes, `sha256:${hex}`]);
    await same(t, [to, '--type', 'sha256', hex]);
    await same(t, [to, '--type', 'sha1', `sha256:${hex}`]);
    await same(t, [to, hex]);
    await same(t, [to, 'sha256:xyz']);
    await same(t, [to]);
  }));
});
