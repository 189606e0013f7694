/** A bounded map evicting the least recently used entry (Map keeps insertion order). */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) { this.map.delete(k); this.map.set(k, v); }
    return v;
  }

  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  delete(k: K): void {
    this.map.delete(k);
  }

  /** Removes every key for which `pred` holds. */
  deleteWhere(pred: (k: K) => boolean): void {
    for (const k of this.map.keys()) if (pred(k)) this.map.delete(k);
  }

  get size(): number {
    return this.map.size;
  }
}
