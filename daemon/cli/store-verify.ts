// `tsix store verify [--check-contents]`: every PathInfo's tree must be present; with
// --check-contents every chunk, blob and directory digest and every narHash is recomputed.
import { Blake3 } from '../../store/hash/blake3.js';
import { createHash } from 'node:crypto';
import type { Node } from '../../store/castore/nodes.js';
import { directoryEntries } from '../../store/castore/nodes.js';
import { formatHash } from '../../store/nix/hash.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { parseArgs } from './args.js';
import type { CliContext } from './command.js';
import { withStore } from './store-commands.js';

export async function verifyStore(argv: string[], ctx: CliContext): Promise<number> {
  const { flags } = parseArgs(argv, { bool: ['--check-contents'] }, 'store verify');
  const deep = flags.has('--check-contents');
  return withStore(ctx, async (store) => {
    let bad = 0;
    let count = 0;
    for await (const info of store.pathInfos.list()) {
      count++;
      const problem = await verifyPath(store, info, deep).catch((err: Error) => err.message);
      if (problem) {
        bad++;
        ctx.stderr.write(`error: path '${info.path}': ${problem}\n`);
      }
    }
    ctx.stderr.write(`checked ${count} paths${deep ? ' (contents)' : ''}: ${bad === 0 ? 'all valid' : `${bad} invalid`}\n`);
    return bad === 0 ? 0 : 1;
  });
}

/** A description of the first problem found, or null. */
async function verifyPath(store: Store, info: PathInfo, deep: boolean): Promise<string | null> {
  const missing = await checkTree(store, info.node, deep);
  if (missing) return missing;
  if (!deep) return null;
  const { dumpNar } = await import('../../store/nix/nar-dump.js');
  const h = createHash('sha256');
  let size = 0;
  for await (const b of dumpNar(store, info.node)) { h.update(b); size += b.length; }
  const got = h.digest();
  if (!got.equals(info.narHash)) {
    return `was modified! expected hash '${formatHash({ algo: 'sha256', digest: info.narHash }, 'base32', true)}', got '${formatHash({ algo: 'sha256', digest: got }, 'base32', true)}'`;
  }
  if (size !== info.narSize) return `NAR size ${size} differs from the recorded ${info.narSize}`;
  return null;
}

async function checkTree(store: Store, node: Node, deep: boolean): Promise<string | null> {
  if (node.type === 'symlink') return null;
  if (node.type === 'file') {
    const st = await store.blobs.stat(node.digest);
    if (!st) return `blob ${node.digest.toString('hex')} is missing`;
    if (st.size !== node.size) return `blob ${node.digest.toString('hex')} has size ${st.size}, expected ${node.size}`;
    if (deep) {
      const whole = new Blake3();
      const stream = await store.blobs.open(node.digest);
      for await (const b of stream!) whole.update(b);
      if (!whole.digest().equals(node.digest)) return `blob ${node.digest.toString('hex')} does not match its digest`;
    }
    return null;
  }
  const dir = await store.directories.get(node.digest);
  if (!dir) return `directory ${node.digest.toString('hex')} is missing`;
  for (const e of directoryEntries(dir)) {
    const p = await checkTree(store, e, deep);
    if (p) return p;
  }
  return null;
}
