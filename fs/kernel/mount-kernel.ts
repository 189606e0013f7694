// Mounting the store with tsix's own FUSE server: the kernel protocol spoken on /dev/fuse from
// Node (no libfuse). Unlike libfuse 2 it negotiates FUSE_PARALLEL_DIROPS, so a root lookup that
// waits for a build does not block lookups of other names in the root. Root only: the mount is
// made by mount(8) with the /dev/fuse descriptor passed as its fd 3 (no fusermount needed).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { TsixError } from '../../store/errors.js';
import { logger } from '../../store/log.js';
import type { MountedFs, MountOptions } from '../mount.js';
import { findMount, prepareMountPoint, unmount } from '../mount-point.js';
import { StoreTree } from '../tree.js';
import { FuseChannel } from './channel.js';
import { ReadPool } from './read-pool.js';
import { KernelSession, type Negotiated } from './session.js';

const log = logger('fs');

/** Largest READ the kernel sends (max_pages × 4 KiB), and the write size we announce. */
const MAX_IO = 1 << 20;
/** One request: header and arguments plus a write's data. */
const READ_BUFFER = MAX_IO + 8192;

export interface KernelMountedFs extends MountedFs {
  /** What INIT settled (protocol minor, flags). */
  readonly negotiated: Negotiated;
  /** Nodes the kernel holds (lookup counts not yet forgotten), root included. */
  nodeCount(): number;
  /** Resolves if the connection ends without unmount() (umount by someone else, aborted). */
  readonly lost: Promise<void>;
}

export class KernelMountError extends TsixError {
  constructor(mountPoint: string, message: string) {
    super('E_MOUNT', `cannot mount the store at ${mountPoint}: ${message}`, { mountPoint });
  }
}

export async function mountKernelFs(opts: MountOptions): Promise<KernelMountedFs> {
  if (process.getuid?.() !== 0) throw new KernelMountError(opts.mountPoint, "tsix's FUSE server mounts with mount(8) and needs root; run as root or use TSIX_FUSE=libfuse");
  const mountPoint = await prepareMountPoint(opts.mountPoint);
  const tree = new StoreTree(opts.cas, opts.roots, {
    listRoot: !!opts.listRoot,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  });
  const timeout = opts.cacheTimeout ?? 86400;
  let fd: number;
  try {
    fd = openSync('/dev/fuse', 'r+');
  } catch (err) {
    throw new KernelMountError(mountPoint, `cannot open /dev/fuse: ${(err as Error).message}`);
  }
  const session = new KernelSession(tree, { timeout, maxRead: MAX_IO, maxWrite: MAX_IO });
  let channel: FuseChannel | null = null;
  let pool: ReadPool | null = null;
  let mounted = false;
  try {
    channel = new FuseChannel(fd, READ_BUFFER, session.handle);
    await mountDevice(fd, mountPoint, !!opts.allowOther);
    mounted = true;
    pool = new ReadPool(fd, readWorkers());
    session.attach(channel, pool);
    // INIT, queued by the kernel at mount time, is answered here: the mount is usable at once and
    // later requests wait in the kernel until the reader thread is up (on a loaded machine its
    // start-up took up to ~175 ms after mount(8) had returned).
    session.handle(channel.readFirst());
    channel.start();
    const negotiated = await Promise.race([session.initialized, channel.ended.then((why) => { throw new KernelMountError(mountPoint, `the kernel closed the connection before INIT (${why})`); })]);
    // Not waited for: a read-ahead tweak for large reads, which took up to ~80 ms here on a
    // loaded start-up (the mount table read and a sysfs write, queued behind other work).
    void tuneConnection(mountPoint, opts.readAheadKb ?? 4096).catch((err: Error) => log.debug({ err: err.message }, 'cannot tune the connection'));
    log.info({ mountPoint, allowOther: !!opts.allowOther, listRoot: !!opts.listRoot, backend: 'kernel' }, 'mounted');
    let unmounted: Promise<void> | null = null;
    const ch = channel;
    const readers = pool;
    const lost = ch.ended.then(async (why) => {
      if (unmounted) return new Promise<void>(() => undefined);
      log.error({ mountPoint, why }, 'the mount is gone (unmounted or aborted from outside)');
      await readers.close();
      closeSync(fd);
      unmounted = Promise.resolve();
    });
    return {
      mountPoint,
      tree,
      negotiated,
      lost,
      nodeCount: () => session.nodeCount,
      unmount: () => (unmounted ??= stop(mountPoint, fd, ch, readers)),
    };
  } catch (err) {
    // A reader never started ends unread (else stop() would wait for it).
    channel?.abandon();
    if (channel && mounted) await stop(mountPoint, fd, channel, pool).catch(() => undefined);
    else {
      await channel?.ended;
      closeSync(fd);
    }
    throw err;
  }
}

/** How many READ workers ($TSIX_FUSE_READ_WORKERS, default 2). */
function readWorkers(): number {
  const n = Number(process.env.TSIX_FUSE_READ_WORKERS ?? 2);
  return Number.isInteger(n) && n >= 1 && n <= 16 ? n : 2;
}

/** mount(8) with our /dev/fuse descriptor as its fd 3: the kernel mount, no helper. */
function mountDevice(fd: number, mountPoint: string, allowOther: boolean): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const options = [
    'fd=3', 'rootmode=40000', `user_id=${uid}`, `group_id=${gid}`, 'ro', 'nosuid', 'nodev',
    'default_permissions', `max_read=${MAX_IO}`, ...(allowOther ? ['allow_other'] : []),
  ].join(',');
  return new Promise((resolve, reject) => {
    const child = spawn('mount', ['-i', '-t', 'fuse.tsix', '-o', options, 'tsix', mountPoint], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', (err) => reject(new KernelMountError(mountPoint, `cannot run mount(8): ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new KernelMountError(mountPoint, `mount(8) exited ${code}: ${stderr.trim()}`))));
  });
}

/**
 * Unmounts, then waits for the reader to see the connection end and closes the device. A busy
 * mount is detached lazily; its connection is then aborted (our server is going away), so its
 * remaining users get ENOTCONN rather than hanging.
 */
async function stop(mountPoint: string, fd: number, channel: FuseChannel, pool: ReadPool | null): Promise<void> {
  const m = await findMount(mountPoint).catch(() => null);
  const ours = m?.fsType === 'fuse.tsix' ? m : null;
  if (ours) {
    try {
      await unmount(mountPoint);
    } catch {
      await unmount(mountPoint, { lazy: true }).catch(() => undefined);
      await writeFile(`/sys/fs/fuse/connections/${ours.device.split(':')[1]}/abort`, '1').catch(() => undefined);
    }
  } else {
    // Unmounted behind our back: the kernel has ended the connection already.
    log.warn({ mountPoint }, 'the store mount was gone before unmounting');
  }
  await channel.ended;
  // The read workers write to the descriptor: stop them before it is closed (and its number reused).
  await pool?.close();
  closeSync(fd);
  log.info({ mountPoint }, 'unmounted');
}

/** A bigger kernel read-ahead window than the default 128 KiB helps sequential reads (root only). */
async function tuneConnection(mountPoint: string, readAheadKb: number): Promise<void> {
  const m = await findMount(mountPoint);
  if (!m) return;
  await writeFile(`/sys/class/bdi/${m.device}/read_ahead_kb`, String(readAheadKb)).catch((err: Error) => log.debug({ err: err.message }, 'cannot set the read-ahead window'));
}
