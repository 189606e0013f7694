// The mount's top level over a store: a name is a store path base name registered in the
// store's PathInfo service. Malformed names and unknown paths are simply absent.
import { basename } from 'node:path';
import type { RootEntry, RootLookup } from '../../fs/root-lookup.js';
import { formatHash } from '../../store/nix/hash.js';
import { parseStorePathBaseName } from '../../store/nix/store-path.js';
import type { Store } from '../../store/store.js';

export function storeRoots(store: Store): RootLookup {
  return {
    async lookupRoot(name: string): Promise<RootEntry | null> {
      let hashPart: string;
      try {
        hashPart = parseStorePathBaseName(name).hashPart;
      } catch {
        return null;
      }
      const info = await store.pathInfos.get(hashPart);
      if (!info || basename(info.path) !== name) return null;
      return { node: info.node, narHash: formatHash({ algo: 'sha256', digest: info.narHash }, 'sri') };
    },
    async *listRoots(): AsyncIterable<string> {
      for await (const info of store.pathInfos.list()) yield basename(info.path);
    },
  };
}
