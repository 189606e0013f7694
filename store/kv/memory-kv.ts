import type { Kv, KvOp } from './kv.js';

/** In-process Kv (`memory://`): a sorted view is built on demand for iteration. */
export class MemoryKv implements Kv {
  private readonly map = new Map<string, Buffer>();

  async get(key: Buffer): Promise<Buffer | null> {
    return this.map.get(key.toString('latin1')) ?? null;
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | null)[]> {
    return keys.map((k) => this.map.get(k.toString('latin1')) ?? null);
  }

  async has(key: Buffer): Promise<boolean> {
    return this.map.has(key.toString('latin1'));
  }

  async batch(ops: KvOp[]): Promise<void> {
    for (const op of ops) {
      const k = op.key.toString('latin1');
      if (op.type === 'put') this.map.set(k, Buffer.from(op.value));
      else this.map.delete(k);
    }
  }

  async *iterate(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    const p = prefix.toString('latin1');
    const keys = [...this.map.keys()].filter((k) => k.startsWith(p)).sort();
    for (const k of keys) {
      const v = this.map.get(k);
      if (v) yield [Buffer.from(k, 'latin1'), v];
    }
  }

  async diskUsage(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {}
}
