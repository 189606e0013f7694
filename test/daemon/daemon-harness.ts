// Starting a real `tsix daemon` (a child process with a real FUSE mount) for tests, and making
// sure it is stopped and unmounted whatever happens.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { CLI } from '../helpers/cli.js';

const run = promisify(execFile);

export interface DaemonProcess {
  proc: ChildProcess;
  mountPoint: string;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then waits for the exit; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL if still running, and lazily unmounts whatever is left (for cleanup). */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

/** Whether anything is mounted at `dir` (from /proc/self/mountinfo). */
export async function isMounted(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === dir);
}

/** tsix FUSE mounts in /proc/self/mountinfo: mount point and the connection's device minor. */
async function fuseMounts(): Promise<{ dir: string; minor: string }[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').map((l) => l.split(' ')).filter((f) => f.includes('fuse.tsix')).map((f) => ({ dir: f[4]!, minor: f[2]!.split(':')[1]! }));
}

/** The build inputs' mounts daemon `pid` made (daemon-service.ts names them by pid). */
async function inputMountsOf(pid: number): Promise<string[]> {
  return (await fuseMounts()).map((m) => m.dir).filter((d) => d.includes(`/tsix-build-inputs-${pid}-`));
}

/** Aborts the FUSE connections of daemon `pid`'s mounts (/sys/fs/fuse/connections/N/abort). */
async function abortConnections(mountPoint: string, pid: number): Promise<void> {
  for (const m of await fuseMounts()) {
    if (m.dir !== mountPoint && !m.dir.includes(`/tsix-build-inputs-${pid}-`)) continue;
    await writeFile(`/sys/fs/fuse/connections/${m.minor}/abort`, '1').catch(() => undefined);
  }
}

/** Throws (failing the test, never skipping it) when FUSE cannot work here, saying why. */
export async function requireFuse(): Promise<void> {
  const ok = await readFile('/proc/filesystems', 'utf8').then((s) => /\sfuse\n/.test(s), () => false);
  if (!ok) throw new Error('FUSE is not available in this kernel (/proc/filesystems has no fuse)');
  if (process.getuid?.() !== 0) throw new Error('FUSE tests run as root (they mount and unmount without fusermount)');
  const dev = await stat('/dev/fuse').catch(() => null);
  if (!dev?.isCharacterDevice()) throw new Error('/dev/fuse is missing (run the container with --device /dev/fuse)');
}

/** Starts a daemon for one test; a teardown kills it and unmounts whatever it left. */
export async function startDaemon(t: ExecutionContext, args: string[], mountPoint: string, env: NodeJS.ProcessEnv = {}): Promise<DaemonProcess> {
  let d: DaemonProcess | null = null;
  t.teardown(() => d?.kill());
  d = await launchDaemon(args, mountPoint, env, (p) => { d = p; });
  return d;
}

/**
 * Starts `tsix daemon --mount mountPoint ...args`; resolves once it reports its mount (or
 * rejects with its output if it exits first; it is then cleaned up already).
 */
export async function launchDaemon(args: string[], mountPoint: string, env: NodeJS.ProcessEnv = {}, onSpawn?: (d: DaemonProcess) => void): Promise<DaemonProcess> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--mount', mountPoint, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((res) => proc.on('exit', (code, sig) => res(code ?? (sig ? -1 : null))));
  const d: DaemonProcess = {
    proc, mountPoint, exited,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
    kill: async () => undefined,
  };
  d.kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    // A daemon thread caught in a request to the daemon's own mount keeps the killed process from
    // ending (the kernel waits for an answer only that process could give): seen once in CI. Its
    // FUSE connections are then aborted, which ends the wait.
    const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    if (!gone && proc.pid !== undefined) await abortConnections(mountPoint, proc.pid);
    await exited;
    // Only a mount this daemon made (another daemon may own the mount point), and its build inputs' mount.
    if (out.includes('mounted at') && await isMounted(mountPoint)) await run('umount', ['-l', mountPoint]).catch(() => undefined);
    if (proc.pid !== undefined) for (const m of await inputMountsOf(proc.pid)) await run('umount', ['-l', m]).catch(() => undefined);
  };
  onSpawn?.(d);
  await new Promise<void>((res, rej) => {
    const check = () => { if (out.includes('mounted at')) { cleanup(); res(); } };
    const onExit = () => { cleanup(); void d.kill().finally(() => rej(new Error(`tsix daemon exited before mounting: ${err || out}`))); };
    const cleanup = () => { proc.stdout!.off('data', check); proc.off('exit', onExit); };
    proc.stdout!.on('data', check);
    proc.on('exit', onExit);
    check();
  });
  return d;
}

/** Runs a command, resolving to stdout (rejects with stderr on failure). */
export async function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; maxBuffer?: number; encoding?: 'buffer' } = {}): Promise<string> {
  const r = await run(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: opts.maxBuffer ?? 256 << 20 });
  return r.stdout;
}
