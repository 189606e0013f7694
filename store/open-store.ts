// Opens a Store by URL. For a local LevelDB store that a daemon holds, the daemon's socket is
// used instead of the database (LevelDB allows one process).
import { lstatSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PackChunkStore } from './castore/pack-chunk-store.js';
import { ConfigError } from './errors.js';
import { KvStore } from './kv/kv-store.js';
import { LevelKv } from './kv/level-kv.js';
import { MemoryKv } from './kv/memory-kv.js';
import type { Store } from './store.js';
import { daemonSocketPath, defaultStoreUrl, parseStoreUrl } from './store-url.js';

export interface OpenStoreOptions {
  /** Open the database itself even if a daemon socket exists (the daemon does this). */
  direct?: boolean;
}


export async function openStore(url: string | null = null, opts: OpenStoreOptions = {}): Promise<Store> {
  const u = url ?? defaultStoreUrl();
  // Only a URL with a query can name substituters: the layered store (and the cache code it
  // pulls in) is loaded only then, which keeps start-up of plain commands short.
  if (u.includes('?')) {
    const { openLayeredStore, parseLayeredUrl } = await import('./layered/layered-store.js');
    if (parseLayeredUrl(u)) return openLayeredStore(u, (local) => openStore(local, opts));
  }
  const loc = parseStoreUrl(u);
  switch (loc.kind) {
    case 'memory':
      return new KvStore(new MemoryKv(), u);
    case 'level': {
      if (!opts.direct) {
        const remote = await connectDaemon(daemonSocketPath(u)!);
        if (remote) return remote;
      }
      await mkdir(loc.dir, { recursive: true, mode: 0o700 });
      const kv = await LevelKv.open(join(loc.dir, 'db'));
      return new KvStore(kv, u, await PackChunkStore.open(kv, join(loc.dir, 'packs')));
    }
    default:
      throw new ConfigError(`unsupported store URL scheme '${loc.scheme}://' in '${u}' (use memory:// or level:///abs/dir)`, { url: u });
  }
}

async function connectDaemon(socketPath: string): Promise<Store | null> {
  // No socket file, no daemon: skip loading the client (connecting would fail with ENOENT anyway).
  try { lstatSync(socketPath); } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
  }
  const { connectRemoteStore } = await import('./remote/remote-store.js');
  return connectRemoteStore(socketPath);
}
