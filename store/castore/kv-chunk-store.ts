import { CorruptionError } from '../errors.js';
import { KEY, key, type Kv, type KvOp } from '../kv/kv.js';
import type { ChunkRead, ChunkStore } from './chunk-store.js';
import type { Digest } from './nodes.js';

const HERE = Buffer.alloc(0);

/** Chunk bytes stored directly in the Kv (memory backend); locations are empty. */
export class KvChunkStore implements ChunkStore {
  constructor(private readonly kv: Kv) {}

  async locate(d: Digest): Promise<Buffer | null> {
    return (await this.kv.has(key(KEY.chunk, d))) ? HERE : null;
  }

  async readAt(chunks: ChunkRead[]): Promise<Buffer[]> {
    const values = await this.kv.getMany(chunks.map((c) => key(KEY.chunk, c.digest)));
    return values.map((v, i) => {
      if (!v) throw new CorruptionError(`chunk ${chunks[i]!.digest.toString('hex')} is missing`, { chunk: chunks[i]!.digest.toString('hex') });
      return v;
    });
  }

  get(d: Digest): Promise<Buffer | null> {
    return this.kv.get(key(KEY.chunk, d));
  }

  async put(chunks: { digest: Digest; data: Buffer }[], extra: (locations: Buffer[]) => KvOp[]): Promise<void> {
    const ops: KvOp[] = chunks.map((c) => ({ type: 'put', key: key(KEY.chunk, c.digest), value: c.data }));
    await this.kv.batch([...ops, ...extra(chunks.map(() => HERE))]);
  }
}
