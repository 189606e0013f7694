import type { Digest, Directory } from './nodes.js';

/**
 * Directories addressed by BLAKE3 of their canonical encoding (see directory-codec.ts).
 * Every validation rule (names, sorting, uniqueness, symlink targets) is enforced on put and get.
 */
export interface DirectoryService {
  /** The directory with this digest, validated and checked against its digest; null if absent. */
  get(digest: Digest): Promise<Directory | null>;

  /**
   * Stores directories given leaves first (each one's child directories must already be stored
   * or come earlier in the same call); all of them become visible together. Returns their digests.
   */
  putMany(dirs: Directory[]): Promise<Digest[]>;

  /** Whether a directory is stored. */
  has(digest: Digest): Promise<boolean>;
}
