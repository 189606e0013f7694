// Running real Nix 2.8 (Debian nix-bin) as the oracle: as root, no daemon, no substituters.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const NIX_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =\nsandbox-fallback = false',
};

/** Fails loudly when Nix is missing: tests never skip silently. */
export function requireNix(): void {
  const r = spawnSync('nix-store', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('real Nix (nix-store from Debian nix-bin) is required for this test: run test/setup/system-packages.sh');
}

export async function nix(cmd: string, args: string[], opts: { input?: Buffer; encoding?: 'buffer' } = {}): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await execFileP(cmd, args, { env: NIX_ENV, maxBuffer: 1 << 30 });
  void opts;
  return { stdout: String(stdout), stderr: String(stderr) };
}

export async function nixBuffer(cmd: string, args: string[]): Promise<Buffer> {
  const { stdout } = await execFileP(cmd, args, { env: NIX_ENV, maxBuffer: 1 << 30, encoding: 'buffer' });
  return stdout;
}
