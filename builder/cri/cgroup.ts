// The CRI has no pids limit for a container, so a build with limits.pids gets a cgroup parent of its
// own, /tsix-cri/<id>, whose pids.max this backend sets before the pod starts; the pod's containers
// are created below it and the limit holds for all of them together. Removed after the pod.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CGROUP_PARENT } from './pod-config.js';

const ROOT = '/sys/fs/cgroup';
const RMDIR_TRIES = 20;

function unified(): boolean {
  return existsSync(join(ROOT, 'cgroup.controllers'));
}

/** Every directory where the cgroup `rel` (e.g. /tsix-cri/x) can exist: one per v1 hierarchy, or the v2 one. */
async function placesOf(rel: string): Promise<string[]> {
  if (unified()) return [join(ROOT, rel)];
  const hierarchies = await readdir(ROOT).catch(() => [] as string[]);
  return hierarchies.map((h) => join(ROOT, h, rel));
}

/** Creates the cgroup parent of a build limited to `pids` processes; returns it for the pod config. */
export async function createPidsParent(id: string, pids: number): Promise<string> {
  const rel = `${CGROUP_PARENT}/${id}`;
  if (unified()) {
    // The pids controller must be enabled for the children of each ancestor.
    await mkdir(join(ROOT, CGROUP_PARENT), { recursive: true });
    for (const d of [ROOT, join(ROOT, CGROUP_PARENT)]) await writeFile(join(d, 'cgroup.subtree_control'), '+pids').catch(() => undefined);
    await mkdir(join(ROOT, rel));
    await writeFile(join(ROOT, rel, 'pids.max'), String(Math.floor(pids)));
  } else {
    await mkdir(join(ROOT, 'pids', rel), { recursive: true });
    await writeFile(join(ROOT, 'pids', rel, 'pids.max'), String(Math.floor(pids)));
  }
  return rel;
}

/** Removes the build's cgroup parent wherever it exists (its containers' cgroups must be gone). */
export async function removeParent(id: string): Promise<void> {
  for (const dir of await placesOf(`${CGROUP_PARENT}/${id}`)) {
    for (let i = 1; ; i++) {
      try {
        await rmdir(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') break;
        // EBUSY while the last processes of the pod are still being reaped.
        if (i >= RMDIR_TRIES) throw e;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }
}

/** Names of the per-build cgroup parents that exist (tsix-<pid>-…). */
export async function listParents(): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of await placesOf(CGROUP_PARENT)) {
    for (const n of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (n.isDirectory() && n.name.startsWith('tsix-')) names.add(n.name);
  }
  return [...names];
}
