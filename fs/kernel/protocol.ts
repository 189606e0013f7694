// The FUSE kernel protocol (include/uapi/linux/fuse.h, version 7.x): the opcodes, INIT flags and
// struct layouts tsix's read-only filesystem needs, as offsets into little-endian buffers.

export const FUSE_KERNEL_VERSION = 7;
/** The newest minor we know; the kernel and we then speak min(its, ours). */
export const FUSE_KERNEL_MINOR_VERSION = 45;
export const ROOT_ID = 1;

export const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32,
  SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36, BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40,
  BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45, LSEEK: 46, COPY_FILE_RANGE: 47,
  SYNCFS: 50, TMPFILE: 51, STATX: 52, COPY_FILE_RANGE_64: 53,
} as const;

/** INIT flags (the low 32 bits; bits 32.. go in flags2). */
export const INIT = {
  ASYNC_READ: 1 << 0,
  BIG_WRITES: 1 << 5,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  NO_OPEN_SUPPORT: 1 << 17,
  PARALLEL_DIROPS: 1 << 18,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
  INIT_EXT: 1 << 30,
} as const;

export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_CACHE_DIR = 1 << 3;

/** Struct sizes. */
export const IN_HEADER = 40;
export const OUT_HEADER = 16;
export const ATTR = 88;
export const ENTRY_OUT = 40 + ATTR;
export const ATTR_OUT = 16 + ATTR;
export const OPEN_OUT = 16;
export const STATFS_OUT = 80;
export const INIT_OUT = 64;
export const DIRENT_HEADER = 24;
/** Record lengths are rounded up to 8 bytes. */
export const align8 = (n: number): number => (n + 7) & ~7;

/** One request as read from /dev/fuse: header fields and the bytes after the header. */
export interface Request {
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** The op-specific argument (the bytes after the header and any extensions). */
  arg: Buffer;
}

export function parseRequest(buf: Buffer): Request {
  const len = buf.readUInt32LE(0);
  const extlen = buf.readUInt16LE(36) * 8;
  return {
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: Number(buf.readBigUInt64LE(16)),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    arg: buf.subarray(IN_HEADER, len - extlen),
  };
}

/** A NUL-terminated name at the start of `b` (LOOKUP, GETXATTR names). */
export function cString(b: Buffer, from = 0): string {
  const end = b.indexOf(0, from);
  return b.toString('utf8', from, end < 0 ? b.length : end);
}

export function outHeader(len: number, error: number, unique: bigint): Buffer {
  const h = Buffer.allocUnsafe(OUT_HEADER);
  h.writeUInt32LE(len, 0);
  h.writeInt32LE(error, 4);
  h.writeBigUInt64LE(unique, 8);
  return h;
}

/** What fuse_attr holds, times in milliseconds (as StoreTree.stat gives them). */
export interface AttrFields {
  ino: number; size: number; blocks: number; mode: number; nlink: number;
  uid: number; gid: number; rdev: number; blksize: number;
  atime: number; mtime: number; ctime: number;
}

export function writeAttr(b: Buffer, at: number, a: AttrFields): void {
  b.writeBigUInt64LE(BigInt(a.ino), at);
  b.writeBigUInt64LE(BigInt(a.size), at + 8);
  b.writeBigUInt64LE(BigInt(a.blocks), at + 16);
  const times = [a.atime, a.mtime, a.ctime];
  times.forEach((ms, i) => {
    b.writeBigUInt64LE(BigInt(Math.floor(ms / 1000)), at + 24 + i * 8);
    b.writeUInt32LE((ms % 1000) * 1e6, at + 48 + i * 4);
  });
  b.writeUInt32LE(a.mode, at + 60);
  b.writeUInt32LE(a.nlink, at + 64);
  b.writeUInt32LE(a.uid, at + 68);
  b.writeUInt32LE(a.gid, at + 72);
  b.writeUInt32LE(a.rdev, at + 76);
  b.writeUInt32LE(a.blksize, at + 80);
  b.writeUInt32LE(0, at + 84);
}

/** fuse_entry_out at `at`: nodeid 0 is a negative entry (cached for entryValid seconds). */
export function writeEntry(b: Buffer, at: number, nodeid: number, entryValid: number, attrValid: number, attr: Buffer | null): void {
  b.writeBigUInt64LE(BigInt(nodeid), at);
  b.writeBigUInt64LE(0n, at + 8);
  b.writeBigUInt64LE(BigInt(entryValid), at + 16);
  b.writeBigUInt64LE(BigInt(attrValid), at + 24);
  b.writeUInt32LE(0, at + 32);
  b.writeUInt32LE(0, at + 36);
  if (attr) attr.copy(b, at + 40);
  else b.fill(0, at + 40, at + 40 + ATTR);
}

/** d_type of a mode. */
export const dtypeOf = (mode: number): number => (mode >>> 12) & 0o17;

/** fuse_dirent at `at`; returns its aligned length. `off` is the offset of the next entry. */
export function writeDirent(b: Buffer, at: number, ino: number, off: number, type: number, name: Buffer): number {
  b.writeBigUInt64LE(BigInt(ino), at);
  b.writeBigUInt64LE(BigInt(off), at + 8);
  b.writeUInt32LE(name.length, at + 16);
  b.writeUInt32LE(type, at + 20);
  name.copy(b, at + DIRENT_HEADER);
  const len = align8(DIRENT_HEADER + name.length);
  b.fill(0, at + DIRENT_HEADER + name.length, at + len);
  return len;
}
