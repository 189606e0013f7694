// Ingesting a NAR whose hash and size were declared by someone else (a narinfo, an upload):
// the size is enforced while streaming (a longer NAR is cut off at narSize+1 bytes), the hash
// at the end. On any mismatch nothing refers to what was written (no PathInfo), so the blobs
// already stored are unreachable garbage, never a visible path.
import { HashMismatchError, InvalidInputError } from '../errors.js';
import { parseContentAddress } from '../nix/content-address.js';
import { hashStream, type HashAlgo } from '../nix/hash.js';
import { importNar } from '../nix/nar-import.js';
import { dumpNar } from '../nix/nar-dump.js';
import type { Node } from '../castore/nodes.js';
import type { CaStore } from '../store.js';
import { formatSha256 } from './hash-text.js';
import type { PathMeta } from './path-meta.js';

/** The NAR is larger or smaller than declared. */
export class NarSizeMismatchError extends HashMismatchError {
  constructor(path: string, declared: number, got: string) {
    super(`NAR size of '${path}'`, String(declared), got, { path });
  }
}

/** Passes `source` through, failing as soon as it exceeds `limit` bytes. */
export async function* limitSize(source: AsyncIterable<Buffer>, limit: number, path: string): AsyncIterable<Buffer> {
  let n = 0;
  for await (const c of source) {
    n += c.length;
    if (n > limit) throw new NarSizeMismatchError(path, limit, `more than ${limit} bytes`);
    yield c;
  }
}

/** Imports `nar` into `cas` and checks it against `meta`'s narSize and narHash; the root node. */
export async function importVerifiedNar(cas: CaStore, nar: AsyncIterable<Buffer>, meta: Pick<PathMeta, 'path' | 'narHash' | 'narSize'>): Promise<Node> {
  const r = await importNar(limitSize(nar, meta.narSize, meta.path), cas, { sizeHint: meta.narSize });
  if (r.narSize !== meta.narSize) throw new NarSizeMismatchError(meta.path, meta.narSize, String(r.narSize));
  if (!r.narHash.equals(meta.narHash)) {
    throw new HashMismatchError(`NAR of '${meta.path}'`, formatSha256(meta.narHash), formatSha256(r.narHash), { path: meta.path });
  }
  return r.node;
}

/**
 * For a path accepted without a signature because it is content-addressed: its contents must
 * hash to what its `ca` field says (the store path already follows from `ca`).
 */
export async function checkCaContents(cas: CaStore, meta: PathMeta, node: Node): Promise<void> {
  const ca = parseContentAddress(meta.ca!);
  let got: Buffer;
  if (ca.type === 'fixed' && ca.method === 'recursive') {
    got = ca.hash.algo === 'sha256' ? meta.narHash : (await hashStream(ca.hash.algo, dumpNar(cas, node))).hash.digest;
  } else {
    if (node.type !== 'file') throw new InvalidInputError(`content address of '${meta.path}'`, `'${meta.ca}' needs a regular file, the path holds a ${node.type}`);
    const algo: HashAlgo = ca.hash.algo;
    const blob = await cas.blobs.open(node.digest);
    if (!blob) throw new InvalidInputError(`contents of '${meta.path}'`, 'blob is missing after import');
    got = (await hashStream(algo, blob)).hash.digest;
  }
  if (!got.equals(ca.hash.digest)) {
    throw new HashMismatchError(`content address of '${meta.path}'`, meta.ca!, `${ca.hash.algo}:${got.toString('hex')}`, { path: meta.path });
  }
}
