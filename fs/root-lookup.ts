// What the filesystem needs to know about the top level of the mount: which names exist and
// what their root nodes are. The daemon implements it over the store (daemon/daemon/store-roots.ts);
// the coordinator can wrap it so that a miss produces the path (substitute or build) first.
import type { Node } from '../store/castore/nodes.js';

/** A top-level entry of the mount: the root node of a store path. */
export interface RootEntry {
  /** The tree (its name is ignored). */
  node: Node;
  /** SRI narHash (`sha256-…`) shown as the `user.tsix.narhash` xattr, or null. */
  narHash: string | null;
}

export interface RootLookup {
  /**
   * The entry named `name` (a store path base name, `<hash>-<name>`), or null if there is none.
   * Called lazily on the first lookup of a name; may take long (it can build). Must not throw for
   * names that are merely malformed: those are null.
   */
  lookupRoot(name: string): Promise<RootEntry | null>;

  /** Every top-level name, for listing the mount root (only used with --list-root). */
  listRoots(): AsyncIterable<string>;
}

/** Called on a miss; resolves once it has made the path available (or given up). */
export type MissHandler = (name: string) => Promise<void>;

/**
 * `base`, but on a miss `onMiss` is awaited and the lookup retried once: the hook through which
 * the coordinator substitutes or builds a path the moment someone looks it up.
 */
export function withMissHandler(base: RootLookup, onMiss: MissHandler): RootLookup {
  return {
    async lookupRoot(name) {
      const hit = await base.lookupRoot(name);
      if (hit) return hit;
      await onMiss(name);
      return base.lookupRoot(name);
    },
    listRoots: () => base.listRoots(),
  };
}
