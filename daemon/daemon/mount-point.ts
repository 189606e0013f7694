// Where the daemon mounts the store unless told otherwise (a module of its own: light enough
// for every CLI command that maps paths under the mount back to the store).
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The default mount point: $TSIX_MOUNT, /run/tsix/store as root, else under $XDG_RUNTIME_DIR or the temp dir. */
export function defaultMountPoint(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSIX_MOUNT) return env.TSIX_MOUNT;
  if (process.getuid?.() === 0) return '/run/tsix/store';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'tsix', 'store');
  return join(tmpdir(), `tsix-${process.getuid?.() ?? 'user'}`, 'store');
}
