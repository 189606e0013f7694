import { KvBlobService } from '../castore/kv-blob-service.js';
import type { ChunkStore } from '../castore/chunk-store.js';
import { KvChunkStore } from '../castore/kv-chunk-store.js';
import { KvDirectoryService } from '../castore/kv-directory-service.js';
import { KvPathInfoService } from '../pathinfo/kv-path-info-service.js';
import type { MetaService, Store } from '../store.js';
import { KEY, key, type Kv } from './kv.js';

class KvMetaService implements MetaService {
  constructor(private readonly kv: Kv) {}
  get(k: string): Promise<Buffer | null> {
    return this.kv.get(key(KEY.meta, k));
  }
  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    await this.kv.batch(entries.map(([k, value]) => ({ type: 'put' as const, key: key(KEY.meta, k), value })));
  }
  async delete(k: string): Promise<void> {
    await this.kv.batch([{ type: 'del', key: key(KEY.meta, k) }]);
  }
  async *list(prefix: string): AsyncIterable<[string, Buffer]> {
    for await (const [k, v] of this.kv.iterate(key(KEY.meta, prefix))) yield [k.subarray(1).toString('utf8'), v];
  }
}

/** A Store whose services all live in one Kv. */
export class KvStore implements Store {
  readonly blobs: KvBlobService;
  readonly directories: KvDirectoryService;
  readonly pathInfos: KvPathInfoService;
  readonly meta: MetaService;

  constructor(readonly kv: Kv, readonly url: string, private readonly chunks: ChunkStore & { close?(): Promise<void>; diskUsage?(): Promise<number> } = new KvChunkStore(kv)) {
    this.blobs = new KvBlobService(kv, chunks);
    this.directories = new KvDirectoryService(kv);
    this.pathInfos = new KvPathInfoService(kv);
    this.meta = new KvMetaService(kv);
  }

  /** Approximate bytes on disk (database and chunk packs). */
  async diskUsage(): Promise<number> {
    return (await this.kv.diskUsage()) + ((await this.chunks.diskUsage?.()) ?? 0);
  }

  async close(): Promise<void> {
    await this.chunks.close?.();
    await this.kv.close();
  }
}
