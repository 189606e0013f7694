// The castore data model: blobs, directories and the nodes that point at them.
// Names and symlink targets are strings; sorting is by UTF-8 bytes, as NAR requires.

/** 32-byte BLAKE3 digest. */
export type Digest = Buffer;

export interface FileEntry { name: string; digest: Digest; size: number; executable: boolean }
/** `size` is the number of nodes in the subtree (entries of this directory and below). */
export interface DirectoryEntry { name: string; digest: Digest; size: number }
export interface SymlinkEntry { name: string; target: string }

/** A directory: three lists, each sorted by name (UTF-8 byte order), names unique across all three. */
export interface Directory {
  directories: DirectoryEntry[];
  files: FileEntry[];
  symlinks: SymlinkEntry[];
}

/** The root of a store path (or any entry), with its kind. Root nodes carry the name '' */
export type Node =
  | ({ type: 'directory' } & DirectoryEntry)
  | ({ type: 'file' } & FileEntry)
  | ({ type: 'symlink' } & SymlinkEntry);

/** One chunk of a blob. */
export interface ChunkRef { digest: Digest; size: number }

/** What the blob service knows about a blob without reading it. */
export interface BlobStat { size: number; chunks: ChunkRef[] }

export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Entries of a directory merged into one list in name order (the order NAR uses). */
export function directoryEntries(d: Directory): Node[] {
  const all: Node[] = [
    ...d.directories.map((e) => ({ type: 'directory' as const, ...e })),
    ...d.files.map((e) => ({ type: 'file' as const, ...e })),
    ...d.symlinks.map((e) => ({ type: 'symlink' as const, ...e })),
  ];
  return all.sort((a, b) => compareNames(a.name, b.name));
}

export function emptyDirectory(): Directory {
  return { directories: [], files: [], symlinks: [] };
}
