// Runs real Nix 2.8 (the oracle) for the derivation tests. Fails loudly when Nix is missing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);

export const NIX_ENV = {
  ...process.env,
  NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nwarn-dirty = false',
};

export interface NixResult { stdout: string; stderr: string; code: number }

/** Runs a Nix command; never throws for a non-zero exit (the result carries the code). */
export async function nix(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): Promise<NixResult> {
  try {
    const r = await run(cmd, args, { env: NIX_ENV, cwd: opts.cwd, maxBuffer: 1 << 28, encoding: 'utf8' });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
    if (err.code === 'ENOENT') throw new Error(`real Nix 2.8 is required for this test but '${cmd}' was not found (apt-get install nix-bin)`);
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : 1 };
  }
}

/** Throws with Nix's stderr unless the command succeeded. */
export async function nixOk(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await nix(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

/** Lines of nix-instantiate output (drv paths, possibly with `!output`). */
export function outputLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l !== '');
}

/** Nix's error text without the warnings about nixbld/gc roots. */
export function nixErrors(stderr: string): string {
  return stderr.split('\n').filter((l) => !l.startsWith('warning:')).join('\n');
}

/** A file of the source tree (fixtures are not compiled): walks up from the built test to package.json. */
export function repoFile(rel: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return join(dir, rel);
}
