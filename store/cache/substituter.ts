// The read side of a Nix binary cache (a "substituter") and the write side used by copy and
// uploads. Implementations: http-cache.ts (http://, https://) and file-cache.ts (file:///).
import { ConfigError } from '../errors.js';
import type { MetaService } from '../store.js';
import { formatNarInfo, parseNarInfo, type CacheInfo, type NarInfo } from './narinfo.js';

/**
 * A binary cache that can be asked for store paths.
 * Contract: absent is `null`; transport failures throw (a cache that cannot be reached is an
 * error, not "not there"). Nothing returned is trusted: callers verify signatures and hashes.
 */
export interface Substituter {
  /** The cache URL, without query parameters. */
  readonly url: string;
  /** Nix priority: lower is preferred (from the URL's ?priority=, else nix-cache-info, else 50). */
  priority(): Promise<number>;
  /** The cache's nix-cache-info (defaults when the file is absent). */
  cacheInfo(): Promise<CacheInfo>;
  /** The narinfo of the store path with this 32-char hash part, or null if the cache lacks it. */
  queryNarInfo(hashPart: string): Promise<NarInfo | null>;
  /** The NAR file a narinfo points to, as stored (compressed as `info.compression` says). Throws if missing. */
  fetchNar(info: NarInfo): Promise<AsyncIterable<Buffer>>;
}

/** A binary cache that can be written (file:// always, http:// via PUT). */
export interface BinaryCacheWriter {
  readonly url: string;
  /** Whether the cache has a narinfo for this hash part (uncached: asks the cache). */
  hasNarInfo(hashPart: string): Promise<boolean>;
  /** Stores a file at `relPath` (e.g. `nar/<filehash>.nar.xz`); `size` if known. */
  putFile(relPath: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, contentType: string, size?: number): Promise<void>;
  /** Stores a narinfo (`<hashpart>.narinfo`); callers write it after the NAR it points to. */
  putNarInfo(info: NarInfo): Promise<void>;
}

export interface SubstituterOptions {
  /** Seconds a found narinfo is remembered (Nix: narinfo-cache-positive-ttl, 30 days). */
  positiveTtl?: number;
  /** Seconds an absent narinfo is remembered (Nix: narinfo-cache-negative-ttl, 1 hour). */
  negativeTtl?: number;
  /** Overrides the cache's priority. */
  priority?: number;
  /** Also remember lookups here (e.g. the local store's meta), so they survive restarts as Nix's narinfo disk cache. */
  persist?: MetaService | null;
}

export const DEFAULT_PRIORITY = 50;

/** Opens a substituter by URL (`http://…`, `https://…`, `file:///…`); `?priority=N` is honoured. */
export async function openSubstituter(url: string, opts: SubstituterOptions = {}): Promise<Substituter & BinaryCacheWriter> {
  const { base, params } = splitCacheUrl(url);
  const priority = params.get('priority');
  const o: SubstituterOptions = { ...opts };
  if (priority !== null) {
    if (!/^[0-9]+$/.test(priority)) throw new ConfigError(`substituter '${url}': priority '${priority}' is not a number`, { url });
    o.priority = Number(priority);
  }
  if (/^https?:\/\//i.test(base)) {
    const { HttpBinaryCache } = await import('./http-cache.js');
    return new HttpBinaryCache(base, o);
  }
  if (/^file:\/\//i.test(base)) {
    const { FileBinaryCache } = await import('./file-cache.js');
    return new FileBinaryCache(base, o);
  }
  throw new ConfigError(`'${url}' is not a binary cache URL (expected http://, https:// or file:///)`, { url });
}

export function splitCacheUrl(url: string): { base: string; params: URLSearchParams } {
  const q = url.indexOf('?');
  const base = (q < 0 ? url : url.slice(0, q)).replace(/\/+$/, '');
  return { base, params: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)) };
}

/** Whether a URL names a binary cache (as opposed to a tsix store). */
export function isBinaryCacheUrl(url: string): boolean {
  return /^(https?|file):\/\//i.test(url);
}

/** Substituters sorted by priority (stable for equal priorities, as Nix keeps the configured order). */
export async function sortByPriority<T extends Substituter>(subs: T[]): Promise<T[]> {
  const prios = await Promise.all(subs.map((s) => s.priority().catch(() => DEFAULT_PRIORITY)));
  return subs.map((s, i) => ({ s, p: prios[i]!, i })).sort((a, b) => a.p - b.p || a.i - b.i).map((x) => x.s);
}

/**
 * Remembers narinfo lookups: found ones for `positiveTtl` seconds, absent ones for `negativeTtl`.
 * In memory, per substituter instance (a daemon keeps its substituters for its lifetime).
 */
export class NarInfoCache {
  private readonly entries = new Map<string, { at: number; info: NarInfo | null }>();
  private persist: { meta: MetaService; prefix: string } | null = null;
  constructor(private readonly positiveTtl = 30 * 24 * 3600, private readonly negativeTtl = 3600, private readonly now = () => Date.now() / 1000) {}

  /** Keeps entries in `meta` too, under `narinfo-cache/<cache url>/<hash part>`. */
  persistIn(meta: MetaService | null | undefined, cacheUrl: string): this {
    this.persist = meta ? { meta, prefix: `narinfo-cache/${encodeURIComponent(cacheUrl)}/` } : null;
    return this;
  }

  /** Like `get`, falling back to the persisted entry. */
  async lookup(hashPart: string): Promise<NarInfo | null | undefined> {
    const mem = this.get(hashPart);
    if (mem !== undefined || !this.persist) return mem;
    const raw = await this.persist.meta.get(this.persist.prefix + hashPart);
    if (!raw) return undefined;
    let e: { at: number; narinfo: string | null };
    try {
      e = JSON.parse(raw.toString('utf8')) as typeof e;
      const info = e.narinfo === null ? null : parseNarInfo(e.narinfo, `cached ${hashPart}.narinfo`);
      this.entries.set(hashPart, { at: e.at, info });
    } catch {
      return undefined; // an unreadable entry is as good as none
    }
    return this.get(hashPart);
  }

  /** Like `set`, persisting the entry. */
  async remember(hashPart: string, info: NarInfo | null): Promise<void> {
    this.set(hashPart, info);
    if (!this.persist) return;
    const value = JSON.stringify({ at: this.now(), narinfo: info ? formatNarInfo(info) : null });
    await this.persist.meta.putMany([[this.persist.prefix + hashPart, Buffer.from(value)]]);
  }

  /** `undefined` when nothing fresh is remembered. */
  get(hashPart: string): NarInfo | null | undefined {
    const e = this.entries.get(hashPart);
    if (!e) return undefined;
    const ttl = e.info ? this.positiveTtl : this.negativeTtl;
    if (this.now() - e.at >= ttl) { this.entries.delete(hashPart); return undefined; }
    return e.info;
  }

  set(hashPart: string, info: NarInfo | null): void {
    this.entries.set(hashPart, { at: this.now(), info });
  }

  forget(hashPart: string): void {
    this.entries.delete(hashPart);
  }
}
