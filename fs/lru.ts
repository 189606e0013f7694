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

/** A bounded map weighing its values (e.g. by bytes), evicting the least recently used. */
export class WeightedLru<K, V> {
  private readonly map = new Map<K, V>();
  private weight = 0;
  constructor(private readonly maxWeight: number, private readonly weigh: (v: V) => number) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) { this.map.delete(k); this.map.set(k, v); }
    return v;
  }

  has(k: K): boolean {
    return this.map.has(k);
  }

  /** The value without making it recently used. */
  peek(k: K): V | undefined {
    return this.map.get(k);
  }

  set(k: K, v: V): void {
    const old = this.map.get(k);
    if (old !== undefined) { this.map.delete(k); this.weight -= this.weigh(old); }
    this.map.set(k, v);
    this.weight += this.weigh(v);
    while (this.weight > this.maxWeight && this.map.size > 1) {
      const [ok, ov] = this.map.entries().next().value as [K, V];
      this.map.delete(ok);
      this.weight -= this.weigh(ov);
    }
  }
}
