// Where chunk bytes live, under the blob service. The memory backend keeps them in its Kv;
// the LevelDB backend appends them to pack files and keeps only their locations in LevelDB,
// because LevelDB's compactions would copy every byte several times. A location is opaque
// bytes the blob index keeps beside each chunk, so a read needs no per-chunk lookup.
import type { KvOp } from '../kv/kv.js';
import type { Digest } from './nodes.js';

export interface ChunkRead { digest: Digest; size: number; location: Buffer }

export interface ChunkStore {
  /** A stored chunk's location, or null if absent (chunks being written by this process count as stored). */
  locate(digest: Digest): Promise<Buffer | null>;
  /**
   * Chunks by location, in order (not verified: the caller checks digests). Adjacent ones may be
   * read together. With `into` (at least the chunks' total size), a backend that reads from files
   * may place the bytes there, back to back, instead of allocating.
   */
  readAt(chunks: ChunkRead[], into?: Buffer): Promise<Buffer[]>;
  /** A chunk's bytes by digest, or null. */
  get(digest: Digest): Promise<Buffer | null>;
  /**
   * Stores chunks, then commits `extra(locations)` in the same Kv batch as their digest → location
   * entries; resolves once an index referring to them is safe to read.
   */
  put(chunks: { digest: Digest; data: Buffer }[], extra: (locations: Buffer[]) => KvOp[]): Promise<void>;
  /**
   * Where a chunk's bytes lie in a local file, for readers that read and verify them on their
   * own (the FUSE read workers); absent (or null) when the bytes are not in a plain file.
   */
  fileOf?(location: Buffer): { path: string; offset: number } | null;
}
