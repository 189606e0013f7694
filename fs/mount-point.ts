// Mount point handling without fusermount (a fresh machine lacks it): checks before mounting,
// cleaning a stale mount left by a killed daemon, and unmounting with umount(8) as root.
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, realpath, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { TsixError } from '../store/errors.js';

const run = promisify(execFile);

export class MountPointError extends TsixError {
  constructor(mountPoint: string, message: string) {
    super('E_MOUNT_POINT', `mount point ${mountPoint}: ${message}`, { mountPoint });
  }
}

export interface MountEntry { mountPoint: string; fsType: string; source: string; device: string }

/** The mount at exactly `dir` (the last one if stacked), or null. Reads /proc/self/mountinfo. */
export async function findMount(dir: string): Promise<MountEntry | null> {
  const abs = await canonical(dir);
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let found: MountEntry | null = null;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 10) continue;
    const sep = f.indexOf('-', 6);
    if (unescapeMountField(f[4]!) === abs) found = { mountPoint: abs, device: f[2]!, fsType: f[sep + 1]!, source: unescapeMountField(f[sep + 2]!) };
  }
  return found;
}

/**
 * Makes `dir` ready to mount on: creates it if missing, removes a stale FUSE mount left by a
 * killed daemon ("Transport endpoint is not connected"), and refuses clearly when something
 * live is mounted there, when it is not a directory, or when it is not empty.
 */
export async function prepareMountPoint(dir: string): Promise<string> {
  const abs = await canonical(dir);
  const mounted = await findMount(abs);
  if (mounted) {
    const state = await probe(abs);
    if (state !== 'stale') {
      throw new MountPointError(abs, state === 'hung'
        ? `a ${mounted.fsType} filesystem is mounted there and does not answer; unmount it first (umount -l ${abs})`
        : `already in use: a ${mounted.fsType} filesystem (${mounted.source}) is mounted there${mounted.fsType.startsWith('fuse') ? ' — is another tsix daemon running?' : ''}`);
    }
    await unmount(abs, { lazy: true });
  }
  let st;
  try {
    st = await stat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new MountPointError(abs, (err as Error).message);
    await mkdir(abs, { recursive: true, mode: 0o755 });
    return abs;
  }
  if (!st.isDirectory()) throw new MountPointError(abs, 'not a directory');
  const entries = await readdir(abs);
  if (entries.length) throw new MountPointError(abs, `not empty (holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); choose an empty or new directory`);
  return abs;
}

/** Unmounts `dir` with umount(8) (root) or fusermount when present; `lazy` detaches a busy mount. */
export async function unmount(dir: string, opts: { lazy?: boolean } = {}): Promise<void> {
  const attempts: [string, string[]][] = process.getuid?.() === 0
    ? [['umount', opts.lazy ? ['-l', dir] : [dir]]]
    : [['fusermount', ['-u', ...(opts.lazy ? ['-z'] : []), dir]], ['fusermount3', ['-u', ...(opts.lazy ? ['-z'] : []), dir]], ['umount', [dir]]];
  let last: unknown = null;
  for (const [cmd, args] of attempts) {
    try {
      await run(cmd, args);
      return;
    } catch (err) {
      last = err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') break;
    }
  }
  const stderr = String((last as { stderr?: string }).stderr ?? (last as Error).message).trim();
  throw new TsixError('E_UNMOUNT', `cannot unmount ${dir}: ${stderr}`, { mountPoint: dir });
}

/**
 * Whether a mount answers: `ok`, `stale` (its server is gone), or `hung` (no answer within 2 s).
 * statfs, because the kernel answers stat from its attribute cache even for a dead FUSE server.
 */
async function probe(dir: string): Promise<'ok' | 'stale' | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hung'>((res) => { timer = setTimeout(() => res('hung'), 2000); });
  const check = statfs(dir).then(() => 'ok' as const, (err: NodeJS.ErrnoException) => (err.code === 'ENOTCONN' || err.code === 'ECONNABORTED' ? 'stale' as const : 'ok' as const));
  try {
    return await Promise.race([check, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Absolute path with symlinks of its parent resolved (never touching `dir` itself: it may be a dead mount). */
async function canonical(dir: string): Promise<string> {
  const abs = resolve(dir);
  if (abs === '/') return abs;
  const parent = await realpath(dirname(abs)).catch(() => dirname(abs));
  const path = join(parent, basename(abs));
  const st = await lstat(path).catch(() => null);
  return st?.isSymbolicLink() ? realpath(path).catch(() => path) : path;
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
