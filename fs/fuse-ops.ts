// The FUSE operations (fuse-native, high-level API: every request names a path). Read-only:
// the mount itself is `ro`, so the kernel answers writes with EROFS; the write operations are
// implemented too, answering EROFS, in case the mount flag is ever lost.
import type { FuseOps, FuseStat, FuseStatfs } from './fuse-binding.js';
import { errnoOf, ERRNO } from './errno.js';
import { inodeOf, type Resolved, type StoreTree } from './tree.js';

export const XATTR_BLAKE3 = 'user.tsix.blake3';
export const XATTR_NARHASH = 'user.tsix.narhash';

const WRITE_OPS = [
  'create', 'write', 'mkdir', 'rmdir', 'unlink', 'rename', 'link', 'symlink', 'mknod',
  'chmod', 'chown', 'truncate', 'ftruncate', 'utimens', 'setxattr', 'removexattr',
] as const;

const ST_RDONLY = 1;
const ST_NOSUID = 2;

/** Answers a callback-style op from a promise: value → cb(0, value), error → cb(-errno). */
function answer<T>(op: string, path: string, p: Promise<T>, cb: (err: number, v?: T) => void): void {
  p.then((v) => cb(0, v), (err: unknown) => cb(errnoOf(err, op, path)));
}

async function mustResolve(tree: StoreTree, path: string): Promise<Resolved> {
  const r = await tree.resolve(path);
  if (!r) throw Object.assign(new Error('not found'), { code: 'ENOENT' });
  return r;
}

function fail(errno: number): never {
  throw Object.assign(new Error(`errno ${errno}`), { errno, code: errnoName(errno) });
}

function errnoName(neg: number): string {
  for (const [k, v] of Object.entries(ERRNO)) if (v === neg) return k;
  return 'EIO';
}

export function makeFuseOps(tree: StoreTree): FuseOps {
  const ops: FuseOps = {
    getattr(path, cb) {
      answer('getattr', path, mustResolve(tree, path).then((r) => tree.stat(r)), cb);
    },

    // ENOSYS makes the kernel stop sending OPEN and RELEASE for files (no_open): reads then
    // need no open/release round trips at all, and cached pages stay valid across opens.
    open(_path, _flags, cb) {
      cb(ERRNO.ENOSYS);
    },

    // Marks readdir as implemented; mount.ts answers it with readdirListing (prebuilt arrays).
    readdir(_path, cb) {
      cb(ERRNO.ENOSYS);
    },

    read(path, _fd, buf, len, pos, cb) {
      read(tree, path, buf, len, pos).then(cb, (err: unknown) => cb(errnoOf(err, 'read', path)));
    },

    readlink(path, cb) {
      answer('readlink', path, mustResolve(tree, path).then((r) => {
        if (r.kind !== 'node' || r.node.type !== 'symlink') fail(ERRNO.EINVAL);
        return r.node.target;
      }), cb);
    },

    statfs(_path, cb) {
      const st: FuseStatfs = { bsize: 128 * 1024, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: ST_RDONLY | ST_NOSUID, namemax: 255 };
      cb(0, st);
    },

    listxattr(path, cb) {
      answer('listxattr', path, mustResolve(tree, path).then((r) => Object.keys(xattrsOf(r))), cb);
    },

    getxattr(path, name, _position, cb) {
      answer('getxattr', path, mustResolve(tree, path).then((r) => {
        const v = xattrsOf(r)[name];
        return v === undefined ? null : Buffer.from(v, 'utf8');
      }), cb);
    },
  };
  for (const op of WRITE_OPS) ops[op] = (...args: unknown[]) => (args[args.length - 1] as (e: number) => void)(ERRNO.EROFS);
  return ops;
}

/**
 * A directory listing as fuse-native's native side takes it: names and, per name, a stat array
 * with the type and inode (d_type, d_ino: `find` need not stat); the kernel asks getattr for the
 * rest. Entries' arrays are built once per directory and reused.
 */
export async function readdirListing(tree: StoreTree, path: string): Promise<[string[], Uint32Array[]]> {
  if (path === '/') {
    if (!tree.opts.listRoot) fail(ERRNO.EACCES);
    const names = ['.', '..'];
    for await (const name of tree.listRoots()) names.push(name);
    return [names, []];
  }
  const r = await mustResolve(tree, path);
  if (r.kind !== 'node' || r.node.type !== 'directory') fail(ERRNO.ENOTDIR);
  const parent = await tree.resolve(path.slice(0, path.lastIndexOf('/')) || '/');
  const d = await tree.directory(r.node.digest);
  d.listing ??= {
    names: d.entries.map((e) => e.name),
    stats: d.entries.map((e) => direntStat(e.type === 'directory' ? 0o40000 : e.type === 'file' ? 0o100000 : 0o120000, inodeOf(e))),
  };
  return [
    ['.', '..', ...d.listing.names],
    [direntStat(0o40000, r.ino), direntStat(0o40000, parent?.kind === 'node' ? parent.ino : 1), ...d.listing.stats],
  ];
}

/** fuse-native's stat array layout: mode at 0, ino at 7 (see its getStatArray). */
function direntStat(mode: number, ino: number): Uint32Array {
  const a = new Uint32Array(18);
  a[0] = mode;
  a[6] = 1;
  a[7] = ino;
  return a;
}

async function read(tree: StoreTree, path: string, buf: Buffer, len: number, pos: number): Promise<number> {
  const r = await mustResolve(tree, path);
  if (r.kind !== 'node') fail(ERRNO.EISDIR);
  const n = r.node;
  if (n.type !== 'file') fail(n.type === 'directory' ? ERRNO.EISDIR : ERRNO.EINVAL);
  if (pos >= n.size || len === 0) return 0;
  if (pos === 0) void tree.prefetchAfter(path);
  return tree.reader.readInto(n.digest, buf, pos, Math.min(len, n.size - pos));
}

/** The extended attributes of a path: BLAKE3 of files and directories, narHash of store path roots. */
export function xattrsOf(r: Resolved): Record<string, string> {
  if (r.kind !== 'node' || r.node.type === 'symlink') return {};
  const x: Record<string, string> = { [XATTR_BLAKE3]: r.node.digest.toString('hex') };
  if (r.top && r.narHash) x[XATTR_NARHASH] = r.narHash;
  return x;
}
