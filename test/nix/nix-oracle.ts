// Real Nix 2.8 as the oracle for the Nix-format tests, plus generators of test trees and NARs.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const NIX_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =',
};

/** Runs a Nix command; fails the test with its stderr if it is missing or fails. */
export async function nix(cmd: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(cmd, args, { env: NIX_ENV, maxBuffer: 1 << 30, encoding: 'utf8' });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { code: unknown; stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is not installed: the Nix-format tests need real Nix 2.8 (apt-get install nix-bin)`);
    if (!opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** Nix's output of a command, trimmed. */
export async function nixOut(cmd: string, args: string[]): Promise<string> {
  return (await nix(cmd, args)).stdout.trim();
}

/** Removes paths a test added to the real Nix store (register with t.teardown). */
export async function nixDelete(paths: string[]): Promise<void> {
  if (paths.length) await nix('nix-store', ['--delete', ...paths], { allowFail: true });
}

/** `nix-store --dump PATH` as bytes. */
export function nixDump(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('nix-store', ['--dump', path], { env: NIX_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', (e) => reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('nix-store is not installed: the Nix-format tests need real Nix 2.8') : e));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`nix-store --dump ${path} exited ${code}: ${err}`))));
  });
}

/** A temp dir removed by the returned cleanup (register it with t.teardown). */
export async function tempDir(prefix = 'tsix-nix-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Yields a buffer in pieces of `size` bytes (to exercise parsing across piece boundaries). */
export async function* pieces(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of src) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** The test trees: name → builder at `root` (which must not exist yet). */
export const TREES: Record<string, (root: string) => Promise<void>> = {
  'single file': async (root) => { await writeFile(root, 'hello\n'); },
  'single empty file': async (root) => { await writeFile(root, ''); },
  'single executable': async (root) => { await writeFile(root, '#!/bin/sh\necho hi\n'); await chmod(root, 0o755); },
  'single symlink': async (root) => { await symlink('/nix/store/does-not-exist', root); },
  'empty dir': async (root) => { await mkdir(root); },
  'mixed tree': async (root) => {
    await mkdir(join(root, 'a/b/c'), { recursive: true });
    await mkdir(join(root, 'empty'));
    await mkdir(join(root, 'a/empty-inner'));
    await writeFile(join(root, 'a/b/c/deep.txt'), 'deep');
    await writeFile(join(root, 'empty-file'), '');
    await writeFile(join(root, 'seven'), '1234567');
    await writeFile(join(root, 'eight'), '12345678');
    await writeFile(join(root, 'nine'), '123456789');
    await writeFile(join(root, 'exe'), 'x');
    await chmod(join(root, 'exe'), 0o755);
    await writeFile(join(root, 'owner-x-only'), 'x');
    await chmod(join(root, 'owner-x-only'), 0o700);
    await writeFile(join(root, 'group-x-only'), 'x');
    await chmod(join(root, 'group-x-only'), 0o610);
    await symlink('seven', join(root, 'rel-link'));
    await symlink('/etc/passwd', join(root, 'abs-link'));
    await symlink('nowhere/at/all', join(root, 'dangling'));
    await symlink('a/b', join(root, 'dir-link'));
    await writeFile(join(root, 'ünïcødé-ñame ✓'), 'utf8 name');
    await writeFile(join(root, 'Zcase'), 'Z');
    await writeFile(join(root, 'zcase'), 'z');
    await writeFile(join(root, '.hidden'), 'h');
    await writeFile(join(root, 'a-'), 'sorting: "a-" < "a" directory entries? (byte order)');
    await writeFile(join(root, 'random-3MiB'), randomBytes(3 * 1024 * 1024 + 5));
    await writeFile(join(root, 'random-70KiB'), randomBytes(70 * 1024 + 3));
    await writeFile(join(root, 'refers'), 'prefix /nix/store/0123456789abcdfghijklmnpqrsvwxyz-dep suffix');
  },
};
