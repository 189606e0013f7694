// Building without a daemon: a Coordinator runs in this process, and the store is mounted at a
// temporary directory (builds bind-mount their inputs from it) for the duration. The builder
// backend and the mount are started by the first build (the mount also by the first read of an
// IFD output): a `tsix build` whose outputs are all valid or substituted needs neither, and skips
// runc's checks and the FUSE mount.
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildOptions, BuildRequest, BuildResult, BuildService } from '../../builder/build-service.js';
import { checkBuilderUrl, openBuilder } from '../../builder/open-builder.js';
import { mountStoreFs } from '../../fs/mount.js';
import type { Store } from '../../store/store.js';
import { storeRoots } from '../daemon/store-roots.js';
import { Coordinator, type BuildEvent, type CoordinatorOptions } from './coordinator.js';

export interface LocalSession {
  coordinator: Coordinator;
  /** Where the store is (or will be) mounted. */
  mountPoint: string;
  /** Mounts the store if it is not yet mounted; resolves to mountPoint. */
  mount(): Promise<string>;
  close(): Promise<void>;
}

export async function startLocalSession(store: Store, opts: Omit<CoordinatorOptions, 'store' | 'builder' | 'inputSource'> & { builderUrl?: string }): Promise<LocalSession> {
  // A bad URL is still refused at once, not at the first build.
  checkBuilderUrl(opts.builderUrl);
  const dir = await mkdtemp(join(tmpdir(), 'tsix-build-mount-'));
  await chmod(dir, 0o755);
  const mountPoint = join(dir, 'store');
  // allow_other: the sandbox runs under unprivileged ids and reads its inputs through the mount.
  const fs = once(() => mountStoreFs({ mountPoint, cas: store, roots: storeRoots(store), allowOther: true }));
  const backend = once(() => openBuilder(opts.builderUrl));
  // Both start at once (mount ~85 ms, runc checks ~40 ms here), as soon as a build is queued:
  // the walk down to the first buildable derivation overlaps them.
  const start = (): Promise<[unknown, BuildService]> => Promise.all([fs.get(), backend.get()]);
  const builder: BuildService = {
    build: async (req: BuildRequest, o: BuildOptions): Promise<BuildResult> => (await start())[1].build(req, o),
    settled: async () => { await (await backend.ifStarted())?.settled(); },
    close: async () => { await (await backend.ifStarted())?.close(); },
  };
  // The command using a local session reports failures itself.
  const onEvent = (e: BuildEvent): void => {
    // A failed start is the first build's to report.
    if (e.type === 'queued') start().catch(() => undefined);
    opts.onEvent?.(e);
  };
  const coordinator = new Coordinator({ failureLogLevel: 'info', ...opts, onEvent, store, builder, inputSource: mountPoint });
  return {
    coordinator,
    mountPoint,
    mount: async () => { await fs.get(); return mountPoint; },
    async close() {
      await (await backend.ifStarted())?.close();
      await coordinator.close();
      await (await fs.ifStarted())?.unmount();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `f` on the first get; a failed start stays failed (every later get rejects with it). */
function once<T>(f: () => Promise<T>): { get(): Promise<T>; ifStarted(): Promise<T | null> } {
  let p: Promise<T> | null = null;
  return {
    get: () => (p ??= f()),
    ifStarted: () => (p ? p.catch(() => null) : Promise.resolve(null)),
  };
}
