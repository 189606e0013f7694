import type { Node } from '../castore/nodes.js';

/** Metadata of a store path, written last, after everything its root node points to. */
export interface PathInfo {
  /** Full store path, e.g. /nix/store/<hash>-<name>. */
  path: string;
  /** The tree of the path (name ''). */
  node: Node;
  /** sha256 of the NAR serialisation, 32 raw bytes. */
  narHash: Buffer;
  narSize: number;
  /** Full store paths, sorted. */
  references: string[];
  /** Full .drv store path, or null. */
  deriver: string | null;
  /** Nix signatures, `keyname:base64sig`. */
  signatures: string[];
  /** Content address, e.g. `fixed:r:sha256:<base32>` or `text:sha256:<base32>`, or null. */
  ca: string | null;
  /** Seconds since epoch when registered (Nix's registrationTime). */
  registrationTime?: number;
}

/**
 * Store path → PathInfo. `put` must only be called once the node's blobs and directories are stored.
 */
export interface PathInfoService {
  /** The PathInfo of a store path (by its 32-char hash part), or null. */
  get(hashPart: string): Promise<PathInfo | null>;

  /** Registers (or replaces) a PathInfo atomically. */
  put(info: PathInfo): Promise<void>;

  /** Every registered PathInfo (order unspecified). */
  list(): AsyncIterable<PathInfo>;

  /** Removes a store path's registration; true if it existed. */
  delete(hashPart: string): Promise<boolean>;
}
