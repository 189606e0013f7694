// The seccomp profile of CRI builds: containerd reads a "Localhost" profile as an OCI
// LinuxSeccomp object, so Nix's filter is written once as JSON in the state directory.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nixSeccompProfile } from '../seccomp.js';

/** Writes the profile into `stateDir` (atomically) and returns its path. */
export async function writeSeccompProfile(stateDir: string): Promise<string> {
  const path = join(stateDir, 'seccomp.json');
  const tmp = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(nixSeccompProfile()), { mode: 0o644 });
  await rename(tmp, path);
  return path;
}
