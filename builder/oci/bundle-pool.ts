// Reusable bundle directories for the OCI backend. runc creates a mount point for every input in
// the bundle's store directory (bound read-write at the sandbox's storeDir), and a fresh bundle
// per build meant creating and deleting one directory per closure path each build. On this host's
// ext4 (no journal) every mkdir skips the inodes deleted in the last seconds one by one, so 50
// mkdir+rmdir cost 12-28 ms of CPU and 30-60 ms of wall (tmpfs: 2 ms); the builds of a graph,
// whose closures mostly repeat, then spent most of their setup there. A bundle given back after a
// build keeps only its mount points (empty, owned by the sandbox's root: the builder, uid 1000
// without capabilities, can create neither), the next build removes those it does not need, and
// everything a build wrote (outputs, other store entries, the working directory) is moved aside
// and removed in the background.
import { lstatSync, readdirSync, renameSync, truncateSync } from 'node:fs';
import { chmod, chown, mkdir, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SANDBOX_GID, SANDBOX_UID } from '../nix-sandbox.js';

/** Idle bundles kept for reuse at most (builds running at once need one each). */
const MAX_IDLE = 4;
/** Mount points of other inputs removed one by one at most; beyond, the store directory is replaced. */
const MAX_REMOVED = 16;

export interface Bundle {
  /** The bundle directory (config.json, runc.log). */
  dir: string;
  /** Bound read-write at storeDir: holds the mount points of inputs, and the outputs. */
  store: string;
  /** The names of the inputs of the build that has the bundle. */
  inputs: ReadonlySet<string>;
  /** Directories in the bundle left empty, as made, by the last build (reused by the next). */
  emptyDirs: Set<string>;
}

/** What a bundle keeps between builds; everything else in it is made for one build. */
const KEPT = new Set(['store', 'config.json', 'runc.log']);

export class BundlePool {
  private readonly idle: Bundle[] = [];
  private created = 0;
  private trashed = 0;
  private closed = false;

  /**
   * `dir`: where bundles live (names carry this process's pid, for stale clean-up);
   * `hostIdBase`: the host id of the sandbox's root; `remove`: removes a directory tree;
   * `later`: tracks work left to run in the background (so that the caller's settled() and
   * close() wait for it).
   */
  constructor(private readonly dir: string, private readonly hostIdBase: number, private readonly io: { remove(path: string): Promise<void>; later(work: Promise<void>): void }) {}

  /** A bundle whose store directory holds mount points of `inputNames` at most, with the
   *  directories `fresh` (names in the bundle, e.g. the working directory) created empty. */
  async take(inputNames: ReadonlySet<string>, fresh: readonly string[]): Promise<Bundle> {
    const b = this.idle.pop() ?? (await this.create());
    try {
      await this.keepOnly(b, inputNames);
      b.inputs = inputNames;
      for (const d of fresh) {
        if (b.emptyDirs.delete(d)) continue;
        await mkdir(join(b.dir, d), { mode: 0o700 });
        await chown(join(b.dir, d), this.hostIdBase + SANDBOX_UID, this.hostIdBase + SANDBOX_GID);
      }
      // runc appends to its log: each build reads only its own errors.
      truncateSync(join(b.dir, 'runc.log'));
      return b;
    } catch (e) {
      await this.discard(b);
      throw e;
    }
  }

  /**
   * Moves the outputs and everything else the build wrote out of `b` (gone from their host paths
   * when this resolves), then keeps `b` for the next build.
   */
  async give(b: Bundle): Promise<void> {
    try {
      this.clear(b);
    } catch {
      await this.discard(b);
      return;
    }
    if (this.closed || this.idle.length >= MAX_IDLE) await this.discard(b);
    else this.idle.push(b);
  }

  /** Moves aside what the last build wrote. Synchronous: a few metadata operations on the path
   *  from one build of a chain to the next, each of which would otherwise wait for a turn in the
   *  thread pool (0.2-0.5 ms on a loaded machine). */
  private clear(b: Bundle): void {
    // The mount points of the build's inputs were there before it started and held mounts while
    // it ran: only other entries need a look.
    for (const e of readdirSync(b.store)) {
      const p = join(b.store, e);
      if (!b.inputs.has(e) && !this.isMountPoint(lstatSync(p))) this.moveAside(p);
    }
    // The working directory and scratch directories: kept when the build left them as they
    // were made (empty, same owner and mode: only their times differ from a new one's), else
    // made afresh for the next build.
    for (const e of readdirSync(b.dir)) {
      if (KEPT.has(e)) continue;
      const p = join(b.dir, e);
      if (this.untouched(p)) b.emptyDirs.add(e);
      else this.moveAside(p);
    }
  }

  /** Removes a bundle that will not be reused (a failed set-up, an aborted build). */
  discard(b: Bundle): Promise<void> {
    return this.io.remove(b.dir);
  }

  /** Removes the idle bundles; bundles given back later are removed too. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((b) => this.discard(b)));
  }

  private async create(): Promise<Bundle> {
    const dir = join(this.dir, `tsix-${process.pid}-bundle-${++this.created}`);
    const b: Bundle = { dir, store: join(dir, 'store'), inputs: new Set(), emptyDirs: new Set() };
    await mkdir(dir, { mode: 0o711 });
    await writeFile(join(dir, 'runc.log'), '');
    await this.makeStore(b);
    return b;
  }

  /** Like Nix's sandbox store directory (1775 root:nixbld): builders create their outputs in it. */
  private async makeStore(b: Bundle): Promise<void> {
    await mkdir(b.store);
    await chown(b.store, this.hostIdBase, this.hostIdBase + SANDBOX_GID);
    await chmod(b.store, 0o1775);
  }

  /** Whether `path` is still an empty directory of the sandbox's build user, mode 0700. */
  private untouched(path: string): boolean {
    const st = lstatSync(path);
    const owner = st.uid === this.hostIdBase + SANDBOX_UID && st.gid === this.hostIdBase + SANDBOX_GID;
    return owner && st.isDirectory() && (st.mode & 0o7777) === 0o700 && readdirSync(path).length === 0;
  }

  /** What runc leaves in the store directory: an empty directory or file made by the sandbox's root. */
  private isMountPoint(st: { uid: number; gid: number; isDirectory(): boolean; isFile(): boolean; size: number }): boolean {
    return st.uid === this.hostIdBase && st.gid === this.hostIdBase && (st.isDirectory() || (st.isFile() && st.size === 0));
  }

  /** Removes the mount points of inputs this build does not have (give() left nothing else). */
  private async keepOnly(b: Bundle, inputNames: ReadonlySet<string>): Promise<void> {
    // Listed synchronously (a directory of mount points, read for every build).
    const unneeded = readdirSync(b.store, { withFileTypes: true }).filter((e) => !inputNames.has(e.name));
    if (unneeded.length > MAX_REMOVED) {
      // Mostly other inputs (unrelated builds in a daemon): a new store directory is cheaper than
      // removing them one by one before the build; the old one goes in the background.
      this.moveAside(b.store);
      await this.makeStore(b);
      return;
    }
    for (const e of unneeded) {
      const p = join(b.store, e.name);
      // Mount points are empty; anything else goes the slow way.
      await (e.isDirectory() ? rmdir(p) : unlink(p)).catch(() => { this.moveAside(p); });
    }
  }

  /** Renames `path` out of its bundle and removes it in the background. */
  private moveAside(path: string): void {
    const doomed = join(this.dir, `tsix-${process.pid}-trash-${++this.trashed}.removing`);
    renameSync(path, doomed);
    this.io.later(this.io.remove(doomed));
  }
}
