// Store path arguments as Nix takes them: a path in the store as is, anything else (`./result`, a
// relative path) absolutised and its symlinks followed until it lands in the store, as Nix's
// followLinksToStorePath does. A tsix mount stands for the store: `tsix build` links results to
// the mount, so a path under a mounted tsix store maps back to /nix/store.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defaultMountPoint } from '../daemon/mount-point.js';
import { BadStorePathError, DEFAULT_STORE_DIR, splitStorePath, type StorePath } from '../../store/nix/store-path.js';

/** Linux's limit on symlinks followed in one lookup. */
const MAX_LINKS = 40;

/**
 * Mount points of tsix filesystems (fstype fuse.tsix) on this machine, from /proc/self/mountinfo,
 * and the default mount point, where `tsix build` points result links even with no daemon running.
 */
function tsixMounts(): string[] {
  const mounts = [defaultMountPoint()];
  let text: string;
  try { text = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return mounts; }
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right || !right.startsWith('fuse.tsix ')) continue;
    const point = left.split(' ')[4];
    if (point) mounts.push(point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return mounts;
}

function inDir(p: string, dir: string): boolean {
  return p.startsWith(dir === '/' ? '/' : dir + '/');
}

/** `arg` as a path inside the store (`/nix/store/<hash>-<name>[/rest]`); BadStorePathError if it leads elsewhere. */
export function storePathArg(arg: string, storeDir = DEFAULT_STORE_DIR): string {
  if (inDir(arg, storeDir)) return arg;
  let mounts: string[] | null = null;
  let p = resolve(arg);
  for (let links = 0; ; links++) {
    if (inDir(p, storeDir)) return p;
    mounts ??= tsixMounts();
    const mount = mounts.find((m) => inDir(p, m));
    if (mount) return storeDir + p.slice(mount === '/' ? 0 : mount.length);
    let isLink = false;
    try { isLink = lstatSync(p).isSymbolicLink(); } catch { /* missing: not in the store */ }
    if (!isLink || links >= MAX_LINKS) break;
    p = resolve(dirname(p), readlinkSync(p));
  }
  throw new BadStorePathError(`path '${arg}' is not in the Nix store ${storeDir}`, { path: arg });
}

/** The store path `arg` lies in (a path below one counts, as in `nix path-info`), parsed and printed. */
export function storePathOfArg(arg: string, storeDir = DEFAULT_STORE_DIR): StorePath & { path: string } {
  const { storePath } = splitStorePath(storePathArg(arg, storeDir), storeDir);
  return { ...storePath, path: `${storeDir}/${storePath.hashPart}-${storePath.name}` };
}
