// Building without a daemon: the store is mounted at a temporary directory for the duration
// (builds bind-mount their inputs from it) and a Coordinator runs in this process.
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBuilder } from '../../builder/open-builder.js';
import { mountStoreFs, type MountedFs } from '../../fs/mount.js';
import type { Store } from '../../store/store.js';
import { storeRoots } from '../daemon/store-roots.js';
import { Coordinator, type CoordinatorOptions } from './coordinator.js';

export interface LocalSession {
  coordinator: Coordinator;
  mountPoint: string;
  close(): Promise<void>;
}

export async function startLocalSession(store: Store, opts: Omit<CoordinatorOptions, 'store' | 'builder' | 'inputSource'> & { builderUrl?: string }): Promise<LocalSession> {
  const builder = await openBuilder(opts.builderUrl);
  const dir = await mkdtemp(join(tmpdir(), 'tsix-build-mount-'));
  await chmod(dir, 0o755);
  let fs: MountedFs | null = null;
  try {
    // allow_other: the sandbox runs under unprivileged ids and reads its inputs through the mount.
    fs = await mountStoreFs({ mountPoint: join(dir, 'store'), cas: store, roots: storeRoots(store), allowOther: true });
  } catch (err) {
    await builder.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const mounted = fs;
  // The command using a local session reports failures itself.
  const coordinator = new Coordinator({ failureLogLevel: 'info', ...opts, store, builder, inputSource: mounted.mountPoint });
  return {
    coordinator,
    mountPoint: mounted.mountPoint,
    async close() {
      await builder.close();
      await mounted.unmount();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
