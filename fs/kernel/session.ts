// Answers FUSE requests over a StoreTree: a node table (nodeid → path and resolved node, with the
// kernel's lookup counts for FORGET), and one handler per opcode. Every request is handled on its
// own (no request waits for another), so a root lookup that waits for a build holds up nothing
// but itself; with FUSE_PARALLEL_DIROPS the kernel sends other lookups meanwhile.
import { errnoOf, ERRNO } from '../errno.js';
import { xattrsOf } from '../fuse-ops.js';
import { inodeOf, type LoadedDirectory, type Resolved, type StoreTree } from '../tree.js';
import type { Node } from '../../store/castore/nodes.js';
import { logger } from '../../store/log.js';
import type { FuseChannel } from './channel.js';
import type { ReadPool } from './read-pool.js';
import {
  align8, ATTR, ATTR_OUT, cString, DIRENT_HEADER, dtypeOf, ENTRY_OUT, FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE,
  FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, INIT, INIT_OUT, OP, OPEN_OUT, parseRequest, ROOT_ID,
  STATFS_OUT, writeAttr, writeDirent, writeEntry, type Request,
} from './protocol.js';

const log = logger('fs');

interface KNode {
  id: number;
  /** '/' or '/<store path>/a/b' (what StoreTree resolves). */
  path: string;
  r: Resolved;
  /** Lookups the kernel has not forgotten yet. */
  nlookup: number;
  /** fuse_attr, built once (the store is immutable). */
  attr?: Buffer;
}

export interface SessionOptions {
  /** Seconds the kernel may cache entries and attributes (found entries, and misses inside store paths). */
  timeout: number;
  /** Largest read the kernel will send (bytes); sets max_pages. */
  maxRead: number;
  maxWrite: number;
}

/** What INIT settled. */
export interface Negotiated {
  major: number;
  minor: number;
  /** What the kernel offered and what we took (low 32 bits). */
  offered: number;
  flags: number;
  maxPages: number;
}

const WRITE_OPS = new Set<number>([
  OP.SETATTR, OP.SYMLINK, OP.MKNOD, OP.MKDIR, OP.UNLINK, OP.RMDIR, OP.RENAME, OP.LINK, OP.WRITE,
  OP.SETXATTR, OP.REMOVEXATTR, OP.CREATE, OP.FALLOCATE, OP.RENAME2, OP.TMPFILE, OP.COPY_FILE_RANGE, OP.COPY_FILE_RANGE_64,
]);
const WANTED = INIT.ASYNC_READ | INIT.BIG_WRITES | INIT.PARALLEL_DIROPS | INIT.MAX_PAGES | INIT.CACHE_SYMLINKS
  | INIT.DO_READDIRPLUS | INIT.READDIRPLUS_AUTO | INIT.NO_OPEN_SUPPORT | INIT.NO_OPENDIR_SUPPORT | INIT.ABORT_ERROR;
const W_OK = 2;
const UNKNOWN_INO = 0xffffffff;
const PAGE = 4096;
const POOLED_MIN = 64 << 10;
const POOL_MAX = 32;
/** How many following small files are handed to the reader thread when one is read here. */
const PUSH_AHEAD = 64;
/** How many of those are fetched and pushed first, on their own. */
const PUSH_FIRST = 8;
/** Files up to this size are handed over (the store keeps them inline: no chunk to read). */
const PUSH_MAX_SIZE = 16 << 10;
/** What dispatch returns for a request a read worker has answered already. */
const REPLIED: Buffer[] = [];

interface DirItem { str: string; name: Buffer; ino: number; type: number; r?: Resolved; attr?: Buffer }
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

class Errno extends Error {
  constructor(readonly errno: number) { super(`errno ${errno}`); }
}

export class KernelSession {
  private readonly nodes = new Map<number, KNode>();
  private readonly byPath = new Map<string, KNode>();
  private nextId = ROOT_ID + 1;
  /** Root listings taken at OPENDIR, by file handle (the root changes; offsets index the snapshot). */
  private readonly rootListings = new Map<number, string[]>();
  private nextFh = 1;
  /** Big read buffers for reuse (fresh 1 MiB buffers cost page faults every time). */
  private readonly buffers: Buffer[] = [];
  private readonly afterReply = new WeakMap<Buffer[], () => void>();
  /** LOOKUPs being answered asynchronously (INTERRUPT may answer them first). */
  private readonly waitingLookups = new Set<bigint>();
  /** Nodes whose lookup count a reply raised (LOOKUP, READDIRPLUS). */
  private readonly counted = new WeakMap<Buffer[], number[]>();
  /** Readdir records of loaded directories (built once per directory). */
  private readonly dirItems = new WeakMap<LoadedDirectory, DirItem[]>();
  private initDone: (n: Negotiated) => void = () => undefined;
  /** Resolves once the kernel's INIT has been answered. */
  readonly initialized: Promise<Negotiated>;
  negotiated: Negotiated | null = null;

  /** Workers answering READs of files in pack files (kernel mounts of a local store). */
  private pool: ReadPool | null = null;
  /** Per directory: entries before this index were considered for handing to the reader. */
  private readonly pushedTo = new WeakMap<LoadedDirectory, number>();
  /** Nodes whose contents the reader holds (dropped there when the kernel forgets them). */
  private readonly pushed = new Set<number>();
  /** Pushed nodes whose first READ in the reader continues pushing after them. */
  private readonly pushNotify = new Map<number, KNode>();
  private toDrop: number[] = [];

  constructor(private readonly tree: StoreTree, private readonly opts: SessionOptions, private channel: FuseChannel | null = null) {
    const root: KNode = { id: ROOT_ID, path: '/', r: { kind: 'mountRoot' }, nlookup: 1 };
    this.nodes.set(ROOT_ID, root);
    this.byPath.set('/', root);
    this.initialized = new Promise((res) => { this.initDone = res; });
  }

  attach(channel: FuseChannel, pool: ReadPool | null = null): void {
    this.channel = channel;
    this.pool = pool;
    channel.onHit = (id) => {
      const n = this.pushNotify.get(id);
      this.pushNotify.delete(id);
      if (n) void this.pushAhead(n).catch(() => undefined);
    };
  }

  /** Nodes the kernel currently knows (root included). */
  get nodeCount(): number {
    return this.nodes.size;
  }

  handle = (buf: Buffer): void => {
    try {
      this.handleRequest(parseRequest(buf));
    } catch (err) {
      log.error({ err: err instanceof Error ? err.stack : String(err) }, 'cannot handle a FUSE request');
    }
  };

  private handleRequest(req: Request): void {
    if (req.opcode === OP.FORGET) return this.forget(req.nodeid, Number(req.arg.readBigUInt64LE(0)));
    if (req.opcode === OP.BATCH_FORGET) {
      const n = req.arg.readUInt32LE(0);
      for (let i = 0; i < n; i++) this.forget(Number(req.arg.readBigUInt64LE(8 + i * 16)), Number(req.arg.readBigUInt64LE(16 + i * 16)));
      return;
    }
    if (req.opcode === OP.INTERRUPT) return this.interrupt(req.arg.readBigUInt64LE(0));
    if (WRITE_OPS.has(req.opcode)) return this.channel!.error(req.unique, ERRNO.EROFS);
    const node = this.nodes.get(req.nodeid);
    let p: Promise<Buffer[]> | Buffer[];
    try {
      p = this.dispatch(req, node);
    } catch (err) {
      return this.fail(req, node, err);
    }
    if (Array.isArray(p)) return this.send(req, p);
    if (req.opcode === OP.LOOKUP) this.waitingLookups.add(req.unique);
    p.then((parts) => this.send(req, parts), (err: unknown) => this.fail(req, node, err, true));
  }

  /**
   * A signal for the process waiting on request `unique`: a root lookup waiting for a build is
   * answered EINTR at once (the build goes on; a later lookup finds its result). Anything else
   * is answered soon anyway.
   */
  private interrupt(unique: bigint): void {
    if (!this.waitingLookups.delete(unique)) return;
    this.channel!.error(unique, -4 /* EINTR */);
  }

  private send(req: Request, parts: Buffer[]): void {
    if (parts === REPLIED) return;
    if (req.opcode === OP.LOOKUP && !this.waitingLookups.delete(req.unique)) {
      // Answered EINTR already: the counts this reply raised are not the kernel's.
      for (const id of this.counted.get(parts) ?? []) this.forget(id, 1);
      return;
    }
    const sent = this.channel!.reply(req.unique, parts);
    // Lookups counted for a reply the kernel never took (an interrupted request) are undone.
    if (!sent) for (const id of this.counted.get(parts) ?? []) this.forget(id, 1);
    this.afterReply.get(parts)?.();
  }

  private fail(req: Request, node: KNode | undefined, err: unknown, async = false): void {
    // An interrupted lookup was answered already.
    if (async && req.opcode === OP.LOOKUP && !this.waitingLookups.delete(req.unique)) return;
    const errno = err instanceof Errno ? err.errno : errnoOf(err, opName(req.opcode), node?.path ?? `nodeid ${req.nodeid}`);
    this.channel!.error(req.unique, errno);
  }

  /** The reply payload of a request (sync where it can be, so the common cases skip a promise). */
  private dispatch(req: Request, node: KNode | undefined): Promise<Buffer[]> | Buffer[] {
    if (req.opcode === OP.INIT) return this.init(req);
    if (req.opcode === OP.DESTROY) return [];
    if (req.opcode === OP.STATFS) return [statfs()];
    if (!node) {
      // A nodeid we never gave out (or already forgot): cannot happen with a correct kernel.
      throw new Errno(-116 /* ESTALE */);
    }
    switch (req.opcode) {
      case OP.LOOKUP: return this.lookup(node, cString(req.arg));
      case OP.GETATTR: return node.attr ? [this.attrOut(node.attr)] : this.attrOf(node).then((a) => [this.attrOut(a)]);
      case OP.READLINK: {
        if (node.r.kind !== 'node' || node.r.node.type !== 'symlink') throw new Errno(ERRNO.EINVAL);
        return [Buffer.from(node.r.node.target, 'utf8')];
      }
      // ENOSYS: the kernel stops sending OPEN and RELEASE for files and keeps their page cache
      // across opens (FOPEN_KEEP_CACHE is its default for no-open filesystems).
      case OP.OPEN: {
        if (this.negotiated && this.negotiated.offered & INIT.NO_OPEN_SUPPORT) throw new Errno(ERRNO.ENOSYS);
        return [openOut(0, FOPEN_KEEP_CACHE)];
      }
      case OP.READ: return this.read(node, req);
      case OP.RELEASE: case OP.RELEASEDIR: {
        this.rootListings.delete(Number(req.arg.readBigUInt64LE(0)));
        return [];
      }
      // ENOSYS: no FLUSH on every close from now on (nothing to flush).
      case OP.FLUSH: throw new Errno(ERRNO.ENOSYS);
      case OP.OPENDIR: return this.opendir(node);
      case OP.READDIR: return this.readdir(node, req.arg, false);
      case OP.READDIRPLUS: return this.readdir(node, req.arg, true);
      case OP.GETXATTR: return this.xattr(node, req.arg.readUInt32LE(0), cString(req.arg, 8));
      case OP.LISTXATTR: return this.xattr(node, req.arg.readUInt32LE(0), null);
      case OP.ACCESS: {
        if (req.arg.readUInt32LE(0) & W_OK) throw new Errno(ERRNO.EROFS);
        return [];
      }
      default: throw new Errno(ERRNO.ENOSYS);
    }
  }

  private init(req: Request): Buffer[] {
    const a = req.arg;
    const major = a.readUInt32LE(0);
    const kminor = a.readUInt32LE(4);
    const out = Buffer.alloc(INIT_OUT);
    out.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
    out.writeUInt32LE(FUSE_KERNEL_MINOR_VERSION, 4);
    // A newer major: answer with ours only; the kernel sends INIT again in our version.
    if (major !== FUSE_KERNEL_VERSION) return [out.subarray(0, 8)];
    const maxReadahead = a.readUInt32LE(8);
    const offered = a.readUInt32LE(12);
    const flags = offered & WANTED;
    const maxPages = Math.max(1, Math.ceil(this.opts.maxRead / PAGE));
    const minor = Math.min(kminor, FUSE_KERNEL_MINOR_VERSION);
    out.writeUInt32LE(minor, 4);
    out.writeUInt32LE(maxReadahead, 8);
    out.writeUInt32LE(flags >>> 0, 12);
    out.writeUInt16LE(64, 16); // max_background: read-ahead requests in flight
    out.writeUInt16LE(48, 18); // congestion_threshold
    out.writeUInt32LE(this.opts.maxWrite, 20);
    out.writeUInt32LE(1, 24); // time_gran (ns)
    out.writeUInt16LE(maxPages, 28);
    this.negotiated = { major, minor, offered, flags, maxPages };
    log.info({ minor: kminor, offered: offered.toString(16), flags: flags.toString(16), maxPages }, 'FUSE connection initialised');
    queueMicrotask(() => this.initDone(this.negotiated!));
    // Old kernels (< 7.23) take the short reply.
    return [minor < 23 ? out.subarray(0, 24) : out];
  }

  private forget(id: number, n: number): void {
    const node = this.nodes.get(id);
    if (!node || id === ROOT_ID) return;
    node.nlookup -= n;
    if (node.nlookup <= 0) {
      this.nodes.delete(id);
      this.pushNotify.delete(id);
      if (this.pushed.delete(id) && this.toDrop.push(id) === 1) {
        queueMicrotask(() => { this.channel?.drop(this.toDrop); this.toDrop = []; });
      }
      if (this.byPath.get(node.path) === node) this.byPath.delete(node.path);
    }
  }

  /** The node for `path`, counting one more kernel lookup of it (call right before replying). */
  private remember(path: string, r: Resolved): KNode {
    let n = this.byPath.get(path);
    if (!n) {
      n = { id: this.nextId++, path, r, nlookup: 0 };
      this.nodes.set(n.id, n);
      this.byPath.set(path, n);
    }
    n.nlookup++;
    return n;
  }

  private async lookup(parent: KNode, name: string): Promise<Buffer[]> {
    if (parent.r.kind === 'node' && parent.r.node.type !== 'directory') throw new Errno(ERRNO.ENOTDIR);
    const path = parent.path === '/' ? `/${name}` : `${parent.path}/${name}`;
    // Inside a store path the parent's directory answers (no walk from the root by path).
    const r = parent.r.kind === 'node' ? await this.child(parent.r.node, name) : await this.tree.resolve(path);
    const out = Buffer.allocUnsafe(ENTRY_OUT);
    if (!r) {
      // A store path may appear at any moment: no negative caching in the root. Inside a
      // store path nothing ever appears: the kernel may remember the miss as long as the rest.
      if (parent.id === ROOT_ID) throw new Errno(ERRNO.ENOENT);
      writeEntry(out, 0, 0, this.opts.timeout, 0, null);
      return [out];
    }
    const attr = await this.attrFor(path, r);
    const node = this.remember(path, r);
    node.attr ??= attr;
    writeEntry(out, 0, node.id, this.opts.timeout, this.opts.timeout, node.attr);
    const parts = [out];
    this.counted.set(parts, [node.id]);
    return parts;
  }

  private async child(dir: Node, name: string): Promise<Resolved | null> {
    if (dir.type !== 'directory') throw new Errno(ERRNO.ENOTDIR);
    const node = (await this.tree.directory(dir.digest)).byName.get(name);
    return node ? { kind: 'node', node, ino: inodeOf(node), top: false, narHash: null } : null;
  }

  private attrOf(node: KNode): Promise<Buffer> {
    if (node.attr) return Promise.resolve(node.attr);
    return this.attrFor(node.path, node.r).then((a) => (node.attr ??= a));
  }

  private attrFor(path: string, r: Resolved): Promise<Buffer> {
    const known = this.byPath.get(path)?.attr;
    if (known) return Promise.resolve(known);
    return this.tree.stat(r).then((st) => {
      const b = Buffer.allocUnsafe(ATTR);
      writeAttr(b, 0, st);
      return b;
    });
  }

  private attrOut(attr: Buffer): Buffer {
    const out = Buffer.allocUnsafe(ATTR_OUT);
    out.writeBigUInt64LE(BigInt(this.opts.timeout), 0);
    out.writeUInt32LE(0, 8);
    out.writeUInt32LE(0, 12);
    attr.copy(out, 16);
    return out;
  }

  private async read(node: KNode, req: Request): Promise<Buffer[]> {
    const arg = req.arg;
    const r = node.r;
    if (r.kind !== 'node' || r.node.type === 'directory') throw new Errno(ERRNO.EISDIR);
    if (r.node.type !== 'file') throw new Errno(ERRNO.EINVAL);
    const offset = Number(arg.readBigUInt64LE(8));
    const size = arg.readUInt32LE(16);
    const len = Math.min(size, r.node.size - offset);
    if (len <= 0) return [];
    // Readers of a file's start often read its next siblings too (tar, cp -r): StoreTree fetches
    // them ahead once it knows the parent by path (entries from READDIRPLUS skipped resolve()).
    // (With the reader thread taking pushed files, pushAhead below does this.)
    if (offset === 0 && !(this.pool && this.tree.reader.hasLayouts)) {
      const parentPath = node.path.slice(0, node.path.lastIndexOf('/'));
      if (parentPath) void this.tree.resolve(parentPath).then(() => this.tree.prefetchAfter(node.path), () => undefined);
    }
    if (this.pool && this.tree.reader.hasLayouts) {
      const l = await this.tree.reader.layout(r.node.digest);
      // After this read's own fetch: one started now would join its LevelDB batch.
      if (offset === 0) void this.pushAhead(node).catch(() => undefined);
      if (l && 'starts' in l) {
        await this.pool.read(req.unique, r.node.digest, l, offset, len);
        return REPLIED;
      }
      if (l) return [l.subarray(offset, offset + len)];
    }
    const big = len > POOLED_MIN ? this.buffers.pop() ?? Buffer.allocUnsafeSlow(this.opts.maxRead) : null;
    const data = big ? big.subarray(0, len) : Buffer.allocUnsafe(len);
    try {
      const n = await this.tree.reader.readInto(r.node.digest, data, offset, len);
      // Replies are written synchronously: the buffer is free again once this one is sent.
      const parts = [n === len ? data : data.subarray(0, n)];
      if (big) this.afterReply.set(parts, () => { if (this.buffers.length < POOL_MAX) this.buffers.push(big); });
      return parts;
    } catch (err) {
      if (big && this.buffers.length < POOL_MAX) this.buffers.push(big);
      throw err;
    }
  }

  /**
   * Readers of a file often read its next siblings too (tar, cp -r, in directory order): the
   * contents of the next small files the kernel knows (has nodeids for) go to the reader
   * thread, which answers their READs itself. The first READ of the middle one pushes more.
   */
  private async pushAhead(node: KNode): Promise<void> {
    if (!this.tree.reader.hasLayouts) return;
    const slash = node.path.lastIndexOf('/');
    const parent = this.byPath.get(node.path.slice(0, slash));
    if (!parent || parent.r.kind !== 'node' || parent.r.node.type !== 'directory') return;
    const d = await this.tree.directory(parent.r.node.digest);
    const at = d.order.get(node.path.slice(slash + 1));
    if (at === undefined) return;
    let i = Math.max(at + 1, this.pushedTo.get(d) ?? 0);
    const until = Math.min(d.entries.length, at + 1 + PUSH_AHEAD);
    const items: { node: KNode; size: number; digest: Buffer }[] = [];
    for (; i < until; i++) {
      const e = d.entries[i]!;
      if (e.type !== 'file' || e.size === 0 || e.size > PUSH_MAX_SIZE) continue;
      const child = this.byPath.get(`${parent.path}/${e.name}`);
      // Not known to the kernel yet (READDIRPLUS has not got there): pushed later.
      if (!child) break;
      if (!this.pushed.has(child.id)) items.push({ node: child, size: e.size, digest: e.digest });
    }
    if (i <= (this.pushedTo.get(d) ?? 0)) return;
    this.pushedTo.set(d, i);
    const mid = items[items.length >> 1]?.node;
    // The next few first, on their own (a store batches the lookups of one turn into one
    // read): the reader is about to ask for them.
    for (const wave of [items.slice(0, PUSH_FIRST), items.slice(PUSH_FIRST)]) {
      if (!wave.length) continue;
      const data = await Promise.all(wave.map((it) => this.tree.reader.layout(it.digest).catch(() => null)));
      const files: [number, Buffer, boolean][] = [];
      wave.forEach((it, k) => {
        const b = data[k];
        if (!b || !Buffer.isBuffer(b) || b.length !== it.size || !this.nodes.has(it.node.id)) return;
        const notify = it.node === mid;
        if (notify) this.pushNotify.set(it.node.id, it.node);
        this.pushed.add(it.node.id);
        files.push([it.node.id, b, notify]);
      });
      this.channel?.push(files);
    }
  }

  private async opendir(node: KNode): Promise<Buffer[]> {
    // Without a listable root every directory is immutable: ENOSYS makes the kernel skip
    // OPENDIR/RELEASEDIR from now on and cache every listing (its default for no-opendir).
    if (!this.tree.opts.listRoot && this.negotiated && this.negotiated.offered & INIT.NO_OPENDIR_SUPPORT) throw new Errno(ERRNO.ENOSYS);
    if (node.r.kind === 'mountRoot') {
      if (!this.tree.opts.listRoot) throw new Errno(ERRNO.EACCES);
      const names: string[] = [];
      for await (const name of this.tree.listRoots()) names.push(name);
      const fh = this.nextFh++;
      this.rootListings.set(fh, names);
      return [openOut(fh, 0)];
    }
    if (node.r.node.type !== 'directory') throw new Errno(ERRNO.ENOTDIR);
    // A store directory never changes: the kernel may keep its listing and pages.
    return [openOut(0, FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR)];
  }

  /**
   * READDIR / READDIRPLUS from `offset` (the index of the next entry; '.' and '..' are 0 and 1)
   * while records fit in `size`. READDIRPLUS entries count as lookups, like LOOKUP replies.
   */
  private async readdir(node: KNode, arg: Buffer, plus: boolean): Promise<Buffer[]> {
    const fh = Number(arg.readBigUInt64LE(0));
    const offset = Number(arg.readBigUInt64LE(8));
    const size = arg.readUInt32LE(16);
    const parentPath = node.path === '/' ? '/' : node.path.slice(0, node.path.lastIndexOf('/')) || '/';
    const dotIno = node.r.kind === 'node' ? node.r.ino : ROOT_ID;
    const parent = this.byPath.get(parentPath);
    const dotdotIno = parent?.r.kind === 'node' ? parent.r.ino : ROOT_ID;
    let items: DirItem[];
    if (node.r.kind === 'mountRoot') {
      const names = this.rootListings.get(fh);
      if (!names) throw new Errno(this.tree.opts.listRoot ? -9 /* EBADF */ : ERRNO.EACCES);
      items = names.map((name) => ({ str: name, name: Buffer.from(name, 'utf8'), ino: UNKNOWN_INO, type: 0 }));
    } else {
      if (node.r.node.type !== 'directory') throw new Errno(ERRNO.ENOTDIR);
      const d = await this.tree.directory(node.r.node.digest);
      let children = this.dirItems.get(d);
      if (!children) {
        children = d.entries.map((e) => {
          const mode = e.type === 'directory' ? 0o40000 : e.type === 'file' ? 0o100000 : 0o120000;
          const ino = inodeOf(e);
          return { str: e.name, name: Buffer.from(e.name, 'utf8'), ino, type: dtypeOf(mode), r: { kind: 'node', node: e, ino, top: false, narHash: null } };
        });
        this.dirItems.set(d, children);
      }
      items = children;
    }
    const dots: DirItem[] = [{ str: '.', name: DOT, ino: dotIno, type: 4 }, { str: '..', name: DOTDOT, ino: dotdotIno, type: 4 }];
    const at = (i: number): DirItem => (i < 2 ? dots[i]! : items[i - 2]!);
    const count = items.length + 2;
    // Which entries fit, then (plus) their attributes, all fetched at once, then the records.
    let total = 0;
    let end = offset;
    for (; end < count; end++) {
      const rec = align8((plus ? ENTRY_OUT : 0) + DIRENT_HEADER + at(end).name.length);
      if (total + rec > size) break;
      total += rec;
    }
    const slice: DirItem[] = [];
    for (let i = offset; i < end; i++) slice.push(at(i));
    const childPath = (it: DirItem) => `${node.path}/${it.str}`;
    // Attributes are kept with the directory's records (the kernel forgets nodes, not we).
    const attrOf = (it: DirItem) => it.attr ?? (it.r ? this.attrFor(childPath(it), it.r).then((a) => (it.attr = a)) : null);
    const attrs = plus ? (slice.every((it) => it.attr || !it.r) ? slice.map((it) => it.attr ?? null) : await Promise.all(slice.map(attrOf))) : [];
    const out = Buffer.allocUnsafe(total);
    const ids: number[] = [];
    let pos = 0;
    slice.forEach((it, i) => {
      if (plus) {
        const attr = attrs[i];
        if (attr && it.r) {
          const child = this.remember(childPath(it), it.r);
          ids.push(child.id);
          child.attr ??= attr;
          writeEntry(out, pos, child.id, this.opts.timeout, this.opts.timeout, child.attr);
        } else {
          writeEntry(out, pos, 0, 0, 0, null); // no entry: the kernel looks it up if it needs it
        }
        pos += ENTRY_OUT;
      }
      pos += writeDirent(out, pos, it.ino, offset + i + 1, it.type, it.name);
    });
    const parts = [out];
    if (ids.length) {
      this.counted.set(parts, ids);
      this.afterReply.set(parts, () => this.pushCached(slice, childPath));
    }
    return parts;
  }

  /** Small files of a listing whose contents are in memory already go to the reader thread. */
  private pushCached(items: DirItem[], pathOf: (it: DirItem) => string): void {
    if (!this.pool) return;
    const files: [number, Buffer, boolean][] = [];
    let last: KNode | null = null;
    for (const it of items) {
      const n = it.r?.kind === 'node' ? it.r.node : null;
      if (n?.type !== 'file' || n.size === 0 || n.size > PUSH_MAX_SIZE) continue;
      const child = this.byPath.get(pathOf(it));
      if (!child || this.pushed.has(child.id)) continue;
      const b = this.tree.reader.cachedInline(n.digest);
      if (!b || b.length !== n.size) continue;
      this.pushed.add(child.id);
      files.push([child.id, b, false]);
      last = child;
    }
    // The last one's first READ pushes (fetching) what follows it.
    if (last) { files[files.length - 1]![2] = true; this.pushNotify.set(last.id, last); }
    this.channel?.push(files);
  }

  private async xattr(node: KNode, size: number, name: string | null): Promise<Buffer[]> {
    const all = xattrsOf(node.r);
    let value: Buffer;
    if (name === null) value = Buffer.from(Object.keys(all).map((k) => `${k}\0`).join(''), 'utf8');
    else {
      const v = all[name];
      if (v === undefined) throw new Errno(ERRNO.ENODATA);
      value = Buffer.from(v, 'utf8');
    }
    if (size === 0) {
      const out = Buffer.alloc(8);
      out.writeUInt32LE(value.length, 0);
      return [out];
    }
    if (value.length > size) throw new Errno(ERRNO.ERANGE);
    return [value];
  }
}

function openOut(fh: number, flags: number): Buffer {
  const b = Buffer.alloc(OPEN_OUT);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeUInt32LE(flags, 8);
  return b;
}

function statfs(): Buffer {
  const b = Buffer.alloc(STATFS_OUT);
  b.writeUInt32LE(128 * 1024, 40); // bsize
  b.writeUInt32LE(255, 44); // namelen
  b.writeUInt32LE(4096, 48); // frsize
  return b;
}

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([k, v]) => [v, k.toLowerCase()]));
function opName(op: number): string {
  return OP_NAMES.get(op) ?? `op${op}`;
}
