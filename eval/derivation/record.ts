// Reading recorded derivations back from a store: for the coordinator (which output path is built
// by which .drv) and for `tsix show-derivation`.
import { storePathHashPart } from '../../store/nix/store-path.js';
import type { Store } from '../../store/store.js';
import { drvNameFromPath, parseDerivation, type Derivation } from './derivation.js';
import { DRV_OUT_PREFIX } from './session.js';

/** The .drv path recorded for an output path by an instantiation, or null. */
export async function findDerivationForOutput(store: Store, outPath: string): Promise<string | null> {
  const v = await store.meta.get(DRV_OUT_PREFIX + outPath);
  return v ? v.toString('utf8') : null;
}

/** The text of a stored .drv file, or null if the path is not in the store. */
export async function readDerivationText(store: Store, drvPath: string): Promise<string | null> {
  const info = await store.pathInfos.get(storePathHashPart(drvPath));
  if (!info || info.path !== drvPath || info.node.type !== 'file') return null;
  const bytes = await store.blobs.read(info.node.digest, 0, info.node.size);
  return bytes ? bytes.toString('utf8') : null;
}

/** A stored derivation, parsed strictly (throws DerivationParseError for a malformed one), or null if absent. */
export async function readDerivation(store: Store, drvPath: string): Promise<Derivation | null> {
  const text = await readDerivationText(store, drvPath);
  return text === null ? null : parseDerivation(text, drvNameFromPath(drvPath), drvPath);
}

/** References of a stored path, or null if absent. */
export async function storedReferences(store: Store, path: string): Promise<string[] | null> {
  const info = await store.pathInfos.get(storePathHashPart(path));
  return info ? info.references : null;
}
