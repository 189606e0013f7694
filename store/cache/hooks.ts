// Adapters for the coordinator's hooks (daemon/coordinator/coordinator.ts: `substitute` and
// `sign`), so the daemon wires binary caches in from configuration:
//   new Coordinator({ …, substitute: await substituteHook(store, urls, keys), sign: signHook(key) })
import { NotFoundError } from '../errors.js';
import type { PathInfo } from '../pathinfo/path-info.js';
import type { Store } from '../store.js';
import { hashPartOf } from './narinfo.js';
import { parseTrustedKeys, signMeta } from './path-meta.js';
import type { SecretKey } from './signing.js';
import { openSubstituter } from './substituter.js';
import { substitute, type SubstituteOptions } from './substitute.js';

/**
 * `(storePath) => Promise<boolean>`: true when the path is (now) valid in `store`, false when no
 * substituter has it. Failures other than absence (bad signature, corrupt NAR, unreachable cache)
 * reject, so the caller can log them before falling back to building.
 * `substituterUrls`: http(s)://… or file:///… (with optional ?priority=); `trustedKeys`: `name:base64` strings.
 */
export async function substituteHook(store: Store, substituterUrls: string[], trustedKeys: string[], opts: SubstituteOptions = {}): Promise<(storePath: string) => Promise<boolean>> {
  const subs = await Promise.all(substituterUrls.map((u) => openSubstituter(u)));
  const keys = parseTrustedKeys(trustedKeys);
  return async (storePath: string) => {
    if (await store.pathInfos.get(hashPartOf(storePath))) return true;
    if (subs.length === 0) return false;
    try {
      await substitute(store, subs, storePath, keys, opts);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError && err.data.path === storePath) return false;
      throw err;
    }
  };
}

/** `(info) => signatures to add`: the key's signature over the PathInfo's fingerprint. */
export function signHook(key: SecretKey): (info: PathInfo) => string[] {
  return (info) => [signMeta(info, key)];
}
