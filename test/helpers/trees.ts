// Generated filesystem trees covering what a store path can hold.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function tempDir(prefix = 'tsix-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (so trees are reproducible within a run when seeded). */
export function seededBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export interface TreeOptions { bigFileBytes?: number }

/** Nested and empty dirs, empty files, executables, relative/absolute/dangling symlinks, non-ASCII names, a big random file. */
export async function makeRichTree(root: string, opts: TreeOptions = {}): Promise<string> {
  await mkdir(join(root, 'a/b/c'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'a/empty'));
  await writeFile(join(root, 'empty-file'), '');
  await writeFile(join(root, 'a/hello.txt'), 'hello world\n');
  await writeFile(join(root, 'a/b/c/deep'), 'deep\n'.repeat(100));
  await writeFile(join(root, 'bin-tool'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'bin-tool'), 0o755);
  await writeFile(join(root, 'a/b/exec-empty'), '');
  await chmod(join(root, 'a/b/exec-empty'), 0o700);
  await symlink('a/hello.txt', join(root, 'rel-link'));
  await symlink('/etc/hostname', join(root, 'abs-link'));
  await symlink('does/not/exist', join(root, 'dangling'));
  await symlink('../..', join(root, 'a/b/up'));
  await writeFile(join(root, 'ünïcödé-名前.txt'), 'non-ascii\n');
  await mkdir(join(root, 'dir ✓ with space'));
  await writeFile(join(root, 'dir ✓ with space/f'), 'x');
  await writeFile(join(root, 'B-upper'), 'sorting: uppercase before lowercase\n');
  await writeFile(join(root, 'big.bin'), opts.bigFileBytes === 0 ? Buffer.alloc(0) : randomBytes(opts.bigFileBytes ?? 3 * 1024 * 1024 + 17));
  return root;
}

/** The kinds of root a store path can have, each in its own directory under `parent`. */
export async function makeTreeCorpus(parent: string): Promise<Record<string, string>> {
  const rich = await makeRichTree(join(parent, 'rich'));
  await writeFile(join(parent, 'single-file'), 'just one file\n');
  await writeFile(join(parent, 'single-exec'), '#!/bin/sh\n');
  await chmod(join(parent, 'single-exec'), 0o555);
  await symlink('/some/target', join(parent, 'single-symlink'));
  await mkdir(join(parent, 'only-empty-dir'));
  await writeFile(join(parent, 'empty-single'), '');
  await mkdir(join(parent, 'wide'));
  for (let i = 0; i < 300; i++) await writeFile(join(parent, 'wide', `f${i}`), `file ${i}\n`);
  return {
    rich,
    'single-file': join(parent, 'single-file'),
    'single-exec': join(parent, 'single-exec'),
    'single-symlink': join(parent, 'single-symlink'),
    'only-empty-dir': join(parent, 'only-empty-dir'),
    'empty-single': join(parent, 'empty-single'),
    wide: join(parent, 'wide'),
  };
}
