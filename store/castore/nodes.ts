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

/** Orders names by their UTF-8 bytes (negative, 0 or positive). */
export function compareNames(a: string, b: string): number {
  // Below U+D800, UTF-16 code units order like code points and so like UTF-8 bytes: the first
  // differing unit decides. Only surrogates (characters above U+FFFF, which UTF-16 puts before
  // U+E000-U+FFFF) need the bytes; encoding every name cost most of a directory's decoding.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 || y >= 0xd800) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
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
