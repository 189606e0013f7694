// A local store in front of binary caches: a PathInfo lookup that misses locally substitutes
// the path (and its missing closure) from the caches, writing it through to the local store,
// so every later lookup is local. Everything else (blobs, directories, meta, writes) is the
// local store's.
//
// URL form: the local store's URL with substituter parameters, as Nix spells its settings:
//   level:///var/lib/tsix?substituter=https://cache.nixos.org&trusted-public-key=cache.nixos.org-1:6NCH…
//   memory://?substituters=http://a%20file:///srv/cache&trusted-public-keys=k1:…%20k2:…&require-sigs=false
// `substituter` / `trusted-public-key` may repeat; the plural forms are space separated lists.
// A substituter URL keeps its own parameters when %-encoded (e.g. `http://h%3Fpriority%3D10`).
import { ConfigError, NotFoundError } from '../errors.js';
import { logger } from '../log.js';
import type { PathInfo, PathInfoService } from '../pathinfo/path-info.js';
import type { Store } from '../store.js';
import { parseTrustedKeys } from '../cache/path-meta.js';
import { keyMap, type PublicKey } from '../cache/signing.js';
import { openSubstituter, type Substituter } from '../cache/substituter.js';
import { substitute } from '../cache/substitute.js';

const log = logger('layered-store');

/** Store URL parameters that belong to the layering, not to the local store. */
const LAYER_PARAMS = ['substituter', 'substituters', 'trusted-public-key', 'trusted-public-keys', 'require-sigs'];

export interface LayerConfig {
  /** The local store's URL (without the layering parameters). */
  localUrl: string;
  substituters: string[];
  trustedKeys: PublicKey[];
  requireSigs: boolean;
}

/** Splits a store URL into its local part and its layering parameters; null when it has no substituters. */
export function parseLayeredUrl(url: string): LayerConfig | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  const params = new URLSearchParams(url.slice(q + 1));
  const subs = [...params.getAll('substituter'), ...params.getAll('substituters').flatMap((s) => s.split(/\s+/))].filter((s) => s !== '');
  if (subs.length === 0) return null;
  const keys = parseTrustedKeys([...params.getAll('trusted-public-key'), ...params.getAll('trusted-public-keys')]);
  const rs = params.get('require-sigs');
  if (rs !== null && rs !== 'true' && rs !== 'false') throw new ConfigError(`store URL '${url}': require-sigs must be true or false, not '${rs}'`, { url });
  for (const p of LAYER_PARAMS) params.delete(p);
  const rest = params.toString();
  return { localUrl: url.slice(0, q) + (rest ? `?${rest}` : ''), substituters: subs, trustedKeys: keys, requireSigs: rs !== 'false' };
}

/**
 * Opens `url` as a layered store if it names substituters, else just `openStore(url)`.
 * `openStore` opens the local part (pass store/open-store.ts's openStore).
 */
export async function openLayeredStore(url: string, openStore: (url: string) => Promise<Store>): Promise<Store> {
  const cfg = parseLayeredUrl(url);
  if (!cfg) return openStore(url);
  const local = await openStore(cfg.localUrl);
  // Lookups are remembered in the local store, so that absent paths are not asked for again for an hour.
  const subs = await Promise.all(cfg.substituters.map((s) => openSubstituter(s, { persist: local.meta }))).catch(async (err: unknown) => {
    await local.close();
    throw err;
  });
  return new LayeredStore(url, local, subs, cfg.trustedKeys, cfg.requireSigs);
}

export class LayeredStore implements Store {
  readonly pathInfos: PathInfoService;
  constructor(
    readonly url: string,
    readonly local: Store,
    readonly substituters: Substituter[],
    trustedKeys: PublicKey[],
    requireSigs = true,
  ) {
    this.pathInfos = new LayeredPathInfos(local, substituters, keyMap(trustedKeys), requireSigs);
  }
  get blobs() { return this.local.blobs; }
  get directories() { return this.local.directories; }
  get meta() { return this.local.meta; }
  close(): Promise<void> { return this.local.close(); }
}

class LayeredPathInfos implements PathInfoService {
  /** One substitution per hash part at a time; concurrent lookups share it. */
  private readonly inFlight = new Map<string, Promise<PathInfo | null>>();

  constructor(private readonly local: Store, private readonly subs: Substituter[], private readonly keys: Map<string, PublicKey>, private readonly requireSigs: boolean) {}

  /**
   * The local PathInfo, else the one substituted now. Null when no substituter has the path;
   * throws when one has it but it cannot be accepted (bad signature, corrupt NAR, unreachable cache).
   */
  async get(hashPart: string): Promise<PathInfo | null> {
    const here = await this.local.pathInfos.get(hashPart);
    if (here) return here;
    let p = this.inFlight.get(hashPart);
    if (!p) {
      p = this.fetch(hashPart).finally(() => this.inFlight.delete(hashPart));
      this.inFlight.set(hashPart, p);
    }
    return p;
  }

  private async fetch(hashPart: string): Promise<PathInfo | null> {
    // Which substituter has it (and its full path) comes from the narinfos themselves.
    let path: string | null = null;
    let failure: unknown = null;
    for (const s of this.subs) {
      const ni = await s.queryNarInfo(hashPart).catch((err: unknown) => { failure ??= err; return null; });
      if (ni) { path = ni.storePath; break; }
    }
    if (!path && failure !== null && this.subs.length === 1) throw failure; // the only cache cannot be asked
    if (!path) return null;
    log.info({ path }, 'substituting');
    try {
      return await substitute(this.local, this.subs, path, this.keys, { requireSigs: this.requireSigs });
    } catch (err) {
      // Gone between the query and the transfer; a missing reference, though, is a broken cache.
      if (err instanceof NotFoundError && err.data.path === path) return null;
      throw err;
    }
  }

  put(info: PathInfo): Promise<void> { return this.local.pathInfos.put(info); }
  list(): AsyncIterable<PathInfo> { return this.local.pathInfos.list(); }
  delete(hashPart: string): Promise<boolean> { return this.local.pathInfos.delete(hashPart); }
}
