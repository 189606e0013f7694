// Opening either side of a copy by URL: a binary cache (http(s)://, file:///) or a tsix store
// (any other store URL, layered ones included).
import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import type { Store } from '../store.js';
import { LayeredStore, openLayeredStore } from '../layered/layered-store.js';
import { splitCacheUrl, isBinaryCacheUrl, openSubstituter } from './substituter.js';
import { parseSecretKey, type SecretKey } from './signing.js';
import type { TrustPolicy } from './path-meta.js';
import { CacheDestination, CacheSource, StoreDestination, StoreSource, type PathDestination, type PathSource } from './transfer.js';

export interface Endpoint<T> {
  side: T;
  /** The tsix store behind it, if it is one. */
  store: Store | null;
  close(): Promise<void>;
}

/** Reads a secret key file (`name:base64`, as nix-store --generate-binary-cache-key writes). */
export async function loadSecretKeyFile(file: string): Promise<SecretKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InvalidInputError(`secret key file '${file}'`, (e as Error).message);
  }
  return parseSecretKey(text, `secret key file '${file}'`);
}

export async function openSource(url: string, policy: TrustPolicy, openStore: (url: string) => Promise<Store>): Promise<Endpoint<PathSource>> {
  if (isBinaryCacheUrl(url)) {
    const cache = await openSubstituter(url);
    return { side: new CacheSource([cache], policy), store: null, close: async () => {} };
  }
  const store = await openLayeredStore(url, openStore);
  return { side: new StoreSource(store), store, close: () => store.close() };
}

export interface DestinationOptions {
  secretKey?: SecretKey | null;
  /** For binary caches; defaults to the URL's `?compression=`, else xz (as Nix). */
  compression?: string;
}

export async function openDestination(url: string, opts: DestinationOptions, openStore: (url: string) => Promise<Store>): Promise<Endpoint<PathDestination>> {
  if (isBinaryCacheUrl(url)) {
    const { params } = splitCacheUrl(url);
    const cache = await openSubstituter(url);
    const keyFile = params.get('secret-key');
    const secretKey = opts.secretKey ?? (keyFile ? await loadSecretKeyFile(keyFile) : null);
    const compression = opts.compression ?? params.get('compression') ?? 'xz';
    return { side: new CacheDestination(cache, { compression, secretKey }), store: null, close: async () => {} };
  }
  const store = await openLayeredStore(url, openStore);
  // Writing into a layered store writes into its local part: "does it have the path?" must not substitute.
  const local = store instanceof LayeredStore ? store.local : store;
  return { side: new StoreDestination(local, { secretKey: opts.secretKey ?? null }), store, close: () => store.close() };
}
