import type { BlobService } from './castore/blob-service.js';
import type { DirectoryService } from './castore/directory-service.js';
import type { PathInfoService } from './pathinfo/path-info.js';

/** Small string-keyed metadata (derivation index, build logs, caches), namespaced by key prefix. */
export interface MetaService {
  /** The value under `key`, or null. */
  get(key: string): Promise<Buffer | null>;
  /** Sets several keys atomically. */
  putMany(entries: [key: string, value: Uint8Array][]): Promise<void>;
  /** Deletes a key; absent keys are fine. */
  delete(key: string): Promise<void>;
  /** Keys (and values) starting with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<[string, Buffer]>;
}

/** The castore part of a store: what trees are made of. */
export interface CaStore {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
}

/** A whole store: one backend (chosen by URL, see open-store.ts) for each service. */
export interface Store extends CaStore {
  /** The URL the store was opened with. */
  readonly url: string;
  readonly pathInfos: PathInfoService;
  readonly meta: MetaService;
  /** Releases the backend (locks, file handles). */
  close(): Promise<void>;
}
