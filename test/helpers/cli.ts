// Running the built `tsix` CLI as a user would.
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
/** The `tsix` command as npm installs it (package.json "bin"): the launcher that runs CLI. */
export const TSIX_BIN = fileURLToPath(new URL('../../../daemon/cli/tsix', import.meta.url));

export interface CliResult { code: number; stdout: Buffer; stderr: string }

export function tsix(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): Promise<CliResult> {
  return runCommand([TSIX_BIN, ...args], { ...process.env, ...opts.env }, opts.input);
}

/** Runs `argv` with exactly `env` (nothing merged in), `input` on its stdin; collects its output. */
export function runCommand(argv: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** Like tsix() but fails with the stderr when the exit code is not 0. */
export async function tsixOk(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): Promise<string> {
  const r = await tsix(args, opts);
  if (r.code !== 0) throw new Error(`tsix ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.toString();
}

export { execFile };
