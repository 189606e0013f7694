// The ordered key-value layer under the castore and PathInfo services. Backends (memory, LevelDB)
// implement only this; the services above it are shared, so every backend behaves the same.

export type KvOp = { type: 'put'; key: Buffer; value: Uint8Array } | { type: 'del'; key: Buffer };

export interface Kv {
  /** The value under `key`, or null. */
  get(key: Buffer): Promise<Buffer | null>;
  /** Values of several keys (null where absent), in order. */
  getMany(keys: Buffer[]): Promise<(Buffer | null)[]>;
  /** Whether `key` is present. */
  has(key: Buffer): Promise<boolean>;
  /** Applies all operations atomically: after a crash either all or none are visible. */
  batch(ops: KvOp[]): Promise<void>;
  /** Entries whose key starts with `prefix`, in key order. */
  iterate(prefix: Buffer): AsyncIterable<[Buffer, Buffer]>;
  /** Approximate bytes used on disk (0 for memory). */
  diskUsage(): Promise<number>;
  close(): Promise<void>;
}

/** Key prefixes: one byte per service. */
export const KEY = {
  chunk: 0x63, // 'c' + digest → chunk bytes
  blob: 0x62, // 'b' + digest → chunk index
  directory: 0x64, // 'd' + digest → canonical directory encoding
  pathInfo: 0x70, // 'p' + hash part → PathInfo encoding
  meta: 0x6d, // 'm' + utf8 key → value
} as const;

export function key(prefix: number, rest: Uint8Array | string): Buffer {
  const r = typeof rest === 'string' ? Buffer.from(rest, 'utf8') : rest;
  const k = Buffer.allocUnsafe(1 + r.length);
  k[0] = prefix;
  k.set(r, 1);
  return k;
}
