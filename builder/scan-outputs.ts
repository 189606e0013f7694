// Reference scanning of build outputs on the host, shared by every builder backend. Nix scans the
// NAR serialisation of an output, so a hash counts wherever it appears in it: file contents,
// symlink targets and entry names. Symlinks are never followed.
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { InvalidInputError } from '../store/errors.js';
import { ReferenceScanner } from '../store/nix/references.js';

const CHUNK = 1 << 20;
const SLASH = Buffer.from('/');

/** The needles (hash parts) found anywhere in the tree at `hostPath`. Throws InvalidInputError on a
 *  file type a store path cannot hold (fifo, socket, device). */
export async function scanTree(hostPath: string, needles: readonly string[]): Promise<string[]> {
  if (needles.length === 0) return [];
  const scanner = new ReferenceScanner(needles);
  const buf = Buffer.allocUnsafe(CHUNK);
  await scanNode(Buffer.from(hostPath), scanner, buf, needles.length);
  return needles.filter((n) => scanner.found().has(n));
}

function done(scanner: ReferenceScanner, total: number): boolean {
  return scanner.found().size === total;
}

// Paths are Buffers so that names which are not UTF-8 survive the walk.
async function scanNode(path: Buffer, scanner: ReferenceScanner, buf: Buffer, total: number): Promise<void> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) scanner.scanWhole(await readlink(path, { encoding: 'buffer' }));
  else if (st.isFile()) await scanFile(path, scanner, buf);
  else if (st.isDirectory()) {
    for (const name of await readdir(path, { encoding: 'buffer' })) {
      if (done(scanner, total)) return;
      scanner.scanWhole(name);
      await scanNode(Buffer.concat([path, SLASH, name]), scanner, buf, total);
    }
  } else {
    throw new InvalidInputError('build output', `${path.toString()} is neither a regular file, a directory nor a symlink, so it cannot be stored`, { path: path.toString() });
  }
}

async function scanFile(path: Buffer, scanner: ReferenceScanner, buf: Buffer): Promise<void> {
  const fh = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      scanner.update(buf.subarray(0, bytesRead));
    }
  } finally {
    scanner.end();
    await fh.close();
  }
}

/** For each output host path (null when the output is absent): the needles it contains. */
export async function scanOutputs(hostPaths: readonly (string | null)[], needles: readonly string[]): Promise<string[][]> {
  return Promise.all(hostPaths.map((p) => (p === null ? [] : scanTree(p, needles))));
}
