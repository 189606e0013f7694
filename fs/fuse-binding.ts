// Loads fuse-native (libfuse 2 high-level API). Its prebuilt addon needs `libfuse.so.2` and has
// no run path; on a machine without Debian's libfuse2 we load the copy shipped by
// fuse-shared-library-linux (soname libfuse.so.2) first, globally and never unloaded, so that the
// dynamic linker finds it by soname when the addon asks for it. (Plain process.dlopen does not
// work: Node closes a library that is not an addon; RTLD_NODELETE keeps it.)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TsixError } from '../store/errors.js';

const require = createRequire(import.meta.url);

const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;
const RTLD_NODELETE = 0x1000; // glibc value; not in os.constants.dlopen

export type Cb<T = void> = T extends void ? (err: number) => void : (err: number, value?: T) => void;

/** The stat fields fuse-native passes on (times in milliseconds; ino truncated to 32 bits). */
export interface FuseStat {
  mode: number; uid: number; gid: number; size: number; nlink: number; ino: number;
  blksize: number; blocks: number; dev: number; rdev: number;
  mtime: number; atime: number; ctime: number;
}

export interface FuseStatfs {
  bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; favail: number; fsid: number; flag: number; namemax: number;
}

/** The operations fuse-native calls (paths are relative to the mount, starting with '/'). */
export interface FuseOps {
  init?(cb: (err: number) => void): void;
  getattr(path: string, cb: (err: number, st?: FuseStat) => void): void;
  readdir?(path: string, cb: (err: number, names?: string[], stats?: Partial<FuseStat>[]) => void): void;
  opendir?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
  open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
  readlink?(path: string, cb: (err: number, target?: string) => void): void;
  statfs?(path: string, cb: (err: number, st?: FuseStatfs) => void): void;
  getxattr?(path: string, name: string, position: number, cb: (err: number, value?: Buffer | null) => void): void;
  listxattr?(path: string, cb: (err: number, names?: string[]) => void): void;
  [op: string]: unknown;
}

export interface FuseOptions {
  allowOther?: boolean;
  kernelCache?: boolean;
  entryTimeout?: number;
  attrTimeout?: number;
  maxRead?: number;
  fsname?: string;
  subtype?: string;
  /** Per-operation JS timeouts in ms (false: none). */
  timeout?: false | number | Record<string, number | false>;
  debug?: boolean;
}

export interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  readonly mnt: string;
  _thread: Buffer | null;
  _fuseOptions(): string;
}

export interface FuseClass {
  new (mnt: string, ops: FuseOps, opts: FuseOptions): FuseInstance;
  prototype: FuseInstance;
}

export interface FuseModule {
  Fuse: FuseClass;
  /** The native unmount hook (frees fuse-native's handles after the kernel mount is gone). */
  nativeUnmount(mnt: string, thread: Buffer): void;
}

export class FuseUnavailableError extends TsixError {
  constructor(message: string) {
    super('E_FUSE_UNAVAILABLE', message);
  }
}

let loaded: FuseModule | null = null;

/** fuse-native, loaded once (making its libfuse.so.2 available first if the system lacks one). */
export function loadFuse(): FuseModule {
  if (loaded) return loaded;
  let Fuse: FuseClass;
  try {
    Fuse = require('fuse-native') as FuseClass;
  } catch (err) {
    if (!/libfuse\.so\.2/.test((err as Error).message)) throw wrap(err);
    preloadSharedLibfuse();
    try {
      Fuse = require('fuse-native') as FuseClass;
    } catch (err2) {
      throw wrap(err2);
    }
  }
  const fuseDir = dirname(require.resolve('fuse-native'));
  const binding = createRequire(join(fuseDir, 'index.js'))('node-gyp-build')(fuseDir) as {
    fuse_native_unmount(mnt: string, thread: Buffer): void;
  };
  loaded = { Fuse, nativeUnmount: (mnt, thread) => binding.fuse_native_unmount(mnt, thread) };
  return loaded;
}

function preloadSharedLibfuse(): void {
  const fuseNativeRequire = createRequire(require.resolve('fuse-native'));
  let lib: string;
  try {
    lib = (fuseNativeRequire('fuse-shared-library-linux') as { lib: string }).lib;
  } catch (err) {
    throw new FuseUnavailableError(`libfuse.so.2 is not installed and fuse-native's bundled copy (fuse-shared-library-linux) cannot be found: ${(err as Error).message}. Install Debian's libfuse2 or run npm ci.`);
  }
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, lib, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  } catch (err) {
    // Expected: the library is not an addon. It stays loaded thanks to RTLD_NODELETE.
    if (!/did not self-register/.test((err as Error).message)) {
      throw new FuseUnavailableError(`cannot load ${lib}: ${(err as Error).message}`);
    }
  }
}

function wrap(err: unknown): FuseUnavailableError {
  return new FuseUnavailableError(`cannot load fuse-native: ${(err as Error).message}`);
}
