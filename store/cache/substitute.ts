// Substitution: fetching a store path and its missing closure from binary caches into a store,
// trusting only what is signed by a trusted key (or content-addressed, or when signatures are
// not required), checking every NAR against its narinfo, and writing each PathInfo last.
import type { PathInfo } from '../pathinfo/path-info.js';
import { NotFoundError } from '../errors.js';
import type { Store } from '../store.js';
import { hashPartOf } from './narinfo.js';
import { keyMap, type PublicKey } from './signing.js';
import { sortByPriority, type Substituter } from './substituter.js';
import { CacheSource, copyClosure, StoreDestination, type CopyOptions, type CopyResult } from './transfer.js';
import type { SecretKey } from './signing.js';

export interface SubstituteOptions extends CopyOptions {
  /** false accepts unsigned paths (Nix's `require-sigs = false`); default true. */
  requireSigs?: boolean;
  /** Also sign what is substituted with this local key. */
  secretKey?: SecretKey | null;
}

/**
 * Makes `storePath` (and its closure) valid in `store` from `substituters` (tried in priority
 * order). Resolves to its PathInfo. Throws NotFoundError if no substituter has it,
 * SignatureError if none has it with an acceptable signature, HashMismatchError (and friends) for
 * a NAR that does not match its narinfo; in every failure case the failed path is not registered.
 */
export async function substitute(
  store: Store, substituters: Substituter[], storePath: string,
  trustedKeys: PublicKey[] | ReadonlyMap<string, PublicKey>, opts: SubstituteOptions = {},
): Promise<PathInfo> {
  await substituteClosure(store, substituters, [storePath], trustedKeys, opts);
  const info = await store.pathInfos.get(hashPartOf(storePath));
  if (!info) throw new NotFoundError(`path '${storePath}' after substitution`);
  return info;
}

/** Like `substitute` for several roots; what was transferred and what was already there. */
export async function substituteClosure(
  store: Store, substituters: Substituter[], storePaths: string[],
  trustedKeys: PublicKey[] | ReadonlyMap<string, PublicKey>, opts: SubstituteOptions = {},
): Promise<CopyResult> {
  const keys = trustedKeys instanceof Map ? trustedKeys : keyMap(trustedKeys as PublicKey[]);
  const source = new CacheSource(await sortByPriority(substituters), { keys, requireSigs: opts.requireSigs ?? true });
  return copyClosure(source, new StoreDestination(store, { secretKey: opts.secretKey ?? null }), storePaths, opts);
}
