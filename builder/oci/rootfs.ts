// The sandbox's root filesystem: a tiny read-only tree of empty mount points and the /etc files
// Nix's sandbox writes. Builds with the same mount points share one tree; it is generated once
// (atomically, by rename) per distinct set, under <stateDir>/rootfs/<key>.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BuildRequest } from '../build-service.js';
import { etcFiles } from '../nix-sandbox.js';

/** Mount points a rootfs must hold for `req` (runc cannot create them in a read-only, root-owned tree). */
export interface RootfsShape {
  dirs: string[];
  files: string[];
}

// Bumped whenever the generated content changes, so old trees are not reused.
const ROOTFS_VERSION = 1;

function isInside(p: string, dir: string): boolean {
  return p.startsWith(dir + '/');
}

export function rootfsShape(req: BuildRequest, networkEtc: readonly { path: string }[]): RootfsShape {
  const dirs = new Set(['/proc', '/dev', '/tmp', '/etc', req.storeDir, req.workingDir]);
  // Scratch paths inside the working directory get their mount point in that (writable) bind.
  for (const s of req.scratchPaths) if (!isInside(s, req.workingDir)) dirs.add(s);
  const files = new Set<string>();
  if (req.shell !== null) files.add('/bin/sh');
  if (req.network) for (const e of networkEtc) files.add(e.path);
  return { dirs: [...dirs].sort(), files: [...files].sort() };
}

/** Creates rootfs trees on demand and remembers the ones that exist. */
export class RootfsCache {
  private readonly ready = new Map<string, Promise<string>>();
  constructor(private readonly dir: string) {}

  /** Host path of a rootfs with the mount points of `shape` and /etc for `workingDir`. */
  get(shape: RootfsShape, workingDir: string): Promise<string> {
    const key = createHash('sha256').update(JSON.stringify([ROOTFS_VERSION, shape, workingDir])).digest('hex').slice(0, 20);
    let p = this.ready.get(key);
    if (!p) {
      p = this.create(key, shape, workingDir);
      this.ready.set(key, p);
      p.catch(() => this.ready.delete(key));
    }
    return p;
  }

  private async create(key: string, shape: RootfsShape, workingDir: string): Promise<string> {
    const final = join(this.dir, key);
    // Made by an earlier process (trees appear whole, by rename): building a copy only to find
    // the name taken cost each `tsix build` a dozen files made and removed.
    if (await lstat(final).then((st) => st.isDirectory(), () => false)) return final;
    const tmp = join(this.dir, `.tmp-${key}-${process.pid}-${Math.random().toString(36).slice(2)}`);
    await mkdir(tmp, { recursive: true, mode: 0o755 });
    try {
      for (const d of shape.dirs) await mkdir(join(tmp, d), { recursive: true, mode: 0o755 });
      // runc gives a tmpfs the mode of its mount point.
      await chmod(join(tmp, 'tmp'), 0o1777);
      for (const f of shape.files) {
        await mkdir(join(tmp, dirname(f)), { recursive: true, mode: 0o755 });
        await writeFile(join(tmp, f), '', { mode: 0o644 });
      }
      for (const [name, text] of Object.entries(etcFiles(workingDir))) await writeFile(join(tmp, 'etc', name), text, { mode: 0o644 });
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      // Another process created the same tree first: use theirs.
      if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') return final;
      throw e;
    }
    return final;
  }
}
