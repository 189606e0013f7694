// Path → node resolution over the castore, with the caches that make repeated lookups cheap.
// The kernel caches entries and attributes too (long timeouts); these caches serve what it
// forgets and what it never caches (reads, xattrs, readdir after eviction).
import type { Digest, Directory, Node } from '../store/castore/nodes.js';
import { directoryEntries } from '../store/castore/nodes.js';
import { NotFoundError, TsixError } from '../store/errors.js';
import { blake3 } from '../store/hash/blake3.js';
import type { CaStore } from '../store/store.js';
import type { FuseStat } from './fuse-binding.js';
import { BlobReader } from './blob-reader.js';
import { Lru } from './lru.js';
import type { RootEntry, RootLookup } from './root-lookup.js';

/** What a path of the mount is. `top` marks the root of a store path (carries its narHash). */
export type Resolved =
  | { kind: 'mountRoot' }
  | { kind: 'node'; node: Node; ino: number; top: boolean; narHash: string | null; statArray?: Uint32Array };

export interface LoadedDirectory {
  /** Entries in NAR (name) order. */
  entries: Node[];
  byName: Map<string, Node>;
  /** Name → index in `entries`. */
  order: Map<string, number>;
  subdirs: number;
  /** Entries before this index have had their contents fetched ahead (see prefetchAfter). */
  prefetchedTo: number;
  /** The entries as readdir answers them, built on first use. */
  listing?: { names: string[]; stats: Uint32Array[] };
}

export interface TreeOptions {
  /** Whether the mount root may be listed. */
  listRoot: boolean;
  /** Owner shown for every file. */
  uid: number;
  gid: number;
  /** How many resolved paths and directories to keep (default 131072 / 16384). */
  pathCacheSize?: number;
  dirCacheSize?: number;
}

export class NotDirectoryError extends TsixError {
  constructor(path: string) {
    super('E_NOT_DIRECTORY', `${path}: not a directory`, { path });
  }
}

/** Nix's fixed modification time for store paths. */
export const STORE_MTIME_MS = 1000;
const MOUNT_ROOT_INO = 1;
const EXECUTABLE_SALT = 0x5a5a5a5a;
const BLKSIZE = 128 * 1024;
/** How many following small files to fetch ahead when a file is first read. */
const PREFETCH_FILES = 32;
const PREFETCH_MAX_SIZE = 256 * 1024;

export class StoreTree {
  private readonly paths: Lru<string, Resolved>;
  private readonly dirs: Lru<string, LoadedDirectory>;
  private readonly pendingPaths = new Map<string, Promise<Resolved | null>>();
  private readonly pendingDirs = new Map<string, Promise<LoadedDirectory>>();

  readonly reader: BlobReader;

  constructor(readonly cas: CaStore, private readonly roots: RootLookup, readonly opts: TreeOptions) {
    this.paths = new Lru(opts.pathCacheSize ?? 131072);
    this.dirs = new Lru(opts.dirCacheSize ?? 16384);
    this.reader = new BlobReader(cas.blobs);
  }

  /** What `path` ('/', '/<store path>', '/<store path>/a/b') is, or null if it does not exist. */
  resolve(path: string): Promise<Resolved | null> {
    if (path === '/') return Promise.resolve({ kind: 'mountRoot' });
    const hit = this.paths.get(path);
    if (hit) return Promise.resolve(hit);
    let p = this.pendingPaths.get(path);
    if (!p) {
      p = this.resolveUncached(path).finally(() => this.pendingPaths.delete(path));
      this.pendingPaths.set(path, p);
    }
    return p;
  }

  private async resolveUncached(path: string): Promise<Resolved | null> {
    const slash = path.lastIndexOf('/');
    const name = path.slice(slash + 1);
    let r: Resolved | null;
    if (slash === 0) {
      const entry = await this.roots.lookupRoot(name);
      r = entry ? topResolved(entry) : null;
    } else {
      const parent = await this.resolve(path.slice(0, slash));
      if (!parent) return null;
      if (parent.kind !== 'node' || parent.node.type !== 'directory') throw new NotDirectoryError(path.slice(0, slash));
      const node = (await this.directory(parent.node.digest)).byName.get(name);
      r = node ? { kind: 'node', node, ino: inodeOf(node), top: false, narHash: null } : null;
    }
    // Only hits are cached: a missing store path may appear at any moment.
    if (r) this.paths.set(path, r);
    return r;
  }

  /** A directory by digest (validated by the directory service), cached. */
  directory(digest: Digest): Promise<LoadedDirectory> {
    const k = digest.toString('latin1');
    const hit = this.dirs.get(k);
    if (hit) return Promise.resolve(hit);
    let p = this.pendingDirs.get(k);
    if (!p) {
      p = this.loadDirectory(digest).finally(() => this.pendingDirs.delete(k));
      this.pendingDirs.set(k, p);
    }
    return p;
  }

  private async loadDirectory(digest: Digest): Promise<LoadedDirectory> {
    const d: Directory | null = await this.cas.directories.get(digest);
    if (!d) throw new NotFoundError(`directory ${digest.toString('hex')}`, { digest: digest.toString('hex') });
    const entries = directoryEntries(d);
    const loaded: LoadedDirectory = {
      entries,
      byName: new Map(entries.map((e) => [e.name, e])),
      order: new Map(entries.map((e, i) => [e.name, i])),
      subdirs: d.directories.length,
      prefetchedTo: 0,
    };
    this.dirs.set(digest.toString('latin1'), loaded);
    return loaded;
  }

  /**
   * A reader that starts `path` will likely read its next siblings too (tar, cp -r, rsync read
   * in directory order): fetch the contents of the next few small files now, concurrently.
   */
  async prefetchAfter(path: string): Promise<void> {
    const slash = path.lastIndexOf('/');
    if (slash <= 0) return;
    const parent = this.paths.get(path.slice(0, slash));
    if (!parent || parent.kind !== 'node' || parent.node.type !== 'directory') return;
    const d = this.dirs.get(parent.node.digest.toString('latin1'));
    const at = d?.order.get(path.slice(slash + 1));
    if (!d || at === undefined) return;
    const until = Math.min(d.entries.length, at + 1 + PREFETCH_FILES);
    for (let i = Math.max(at + 1, d.prefetchedTo); i < until; i++) {
      const e = d.entries[i]!;
      if (e.type === 'file' && e.size > 0 && e.size <= PREFETCH_MAX_SIZE) this.reader.prefetch(e.digest, e.size);
    }
    d.prefetchedTo = Math.max(d.prefetchedTo, until);
  }

  /** Forgets the top-level entries whose name starts with `prefix` (e.g. a deleted path's hash part). */
  forgetRoot(prefix: string): void {
    this.paths.deleteWhere((p) => p.startsWith('/' + prefix));
  }

  /** Top-level names (only when listing the root is allowed). */
  listRoots(): AsyncIterable<string> {
    return this.roots.listRoots();
  }

  /** The stat of `path` as fuse-native's native side takes it, built once per resolved node. */
  async statArray(path: string): Promise<Uint32Array | null> {
    const r = await this.resolve(path);
    if (!r) return null;
    if (r.kind === 'node' && r.statArray) return r.statArray;
    const a = toStatArray(await this.stat(r));
    if (r.kind === 'node') r.statArray = a;
    return a;
  }

  async stat(r: Resolved): Promise<FuseStat> {
    const base = { uid: this.opts.uid, gid: this.opts.gid, dev: 0, rdev: 0, blksize: BLKSIZE, mtime: STORE_MTIME_MS, atime: STORE_MTIME_MS, ctime: STORE_MTIME_MS };
    if (r.kind === 'mountRoot') {
      // Not listable: execute-only, so `ls -ld` tells the user why listing is refused.
      return { ...base, mode: this.opts.listRoot ? 0o40555 : 0o40111, nlink: 1, ino: MOUNT_ROOT_INO, size: 0, blocks: 0 };
    }
    const n = r.node;
    switch (n.type) {
      case 'directory': {
        const d = await this.directory(n.digest);
        return { ...base, mode: 0o40555, nlink: 2 + d.subdirs, ino: r.ino, size: 4096, blocks: 8 };
      }
      case 'file':
        return { ...base, mode: n.executable ? 0o100555 : 0o100444, nlink: 1, ino: r.ino, size: n.size, blocks: Math.ceil(n.size / 512) };
      case 'symlink':
        return { ...base, mode: 0o120777, nlink: 1, ino: r.ino, size: Buffer.byteLength(n.target), blocks: 0 };
    }
  }
}

/** fuse-native's stat array layout (see getStatArray in its index.js): 64-bit values as two u32s, times in ms. */
export function toStatArray(st: FuseStat): Uint32Array {
  const a = new Uint32Array(18);
  const put64 = (i: number, n: number) => { a[i] = n % 4294967296; a[i + 1] = Math.floor(n / 4294967296); };
  a[0] = st.mode; a[1] = st.uid; a[2] = st.gid;
  put64(3, st.size);
  a[5] = st.dev; a[6] = st.nlink; a[7] = st.ino; a[8] = st.rdev; a[9] = st.blksize;
  put64(10, st.blocks);
  put64(12, st.atime); put64(14, st.mtime); put64(16, st.ctime);
  return a;
}

function topResolved(e: RootEntry): Resolved {
  return { kind: 'node', node: e.node, ino: inodeOf(e.node), top: true, narHash: e.narHash };
}

/**
 * Inode numbers derived from content (32 bits: all fuse-native passes on), so they are the same
 * across mounts and daemons; identical files share one, as after `nix-store --optimise`.
 */
export function inodeOf(n: Node): number {
  let ino: number;
  if (n.type === 'symlink') ino = blake3(Buffer.from(n.target, 'utf8')).readUInt32LE(0);
  else ino = n.digest.readUInt32LE(0);
  if (n.type === 'file' && n.executable) ino = (ino ^ EXECUTABLE_SALT) >>> 0;
  if (n.type === 'directory') ino = (ino ^ 0xd1d1d1d1) >>> 0;
  return ino < 2 ? ino + 2 : ino;
}
