// Walking a tree (original or through the mount) into a comparable description.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface Entry {
  rel: string;
  type: 'directory' | 'file' | 'symlink';
  /** Whether Nix would store it executable (owner x bit). */
  executable: boolean;
  mode: number;
  size: number;
  sha256?: string;
  target?: string;
  ino: number;
}

/** Every entry under (and including) `root`, sorted by relative path. */
export async function describeTree(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const walk = async (path: string, rel: string): Promise<void> => {
    const st = await lstat(path);
    const base = { rel, mode: st.mode & 0o7777, ino: st.ino };
    if (st.isSymbolicLink()) out.push({ ...base, type: 'symlink', executable: false, size: 0, target: await readlink(path) });
    else if (st.isFile()) {
      const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
      out.push({ ...base, type: 'file', executable: (st.mode & 0o100) !== 0, size: st.size, sha256 });
    } else if (st.isDirectory()) {
      out.push({ ...base, type: 'directory', executable: false, size: 0 });
      for (const n of (await readdir(path)).sort()) await walk(join(path, n), rel ? `${rel}/${n}` : n);
    } else throw new Error(`unexpected file type at ${path}`);
  };
  await walk(root, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The parts that must survive the store unchanged. */
export function contentView(entries: Entry[]): unknown[] {
  return entries.map((e) => ({ rel: e.rel, type: e.type, executable: e.executable, size: e.type === 'file' ? e.size : 0, sha256: e.sha256, target: e.target }));
}
