// Copies a closure from the real Nix store into a tsix store (NARs via nix-store --dump), and
// records which derivation produces each output, as instantiation would.
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { readDerivation } from '../../eval/derivation/record.js';
import { importNar } from '../../store/nix/nar-import.js';
import type { Store } from '../../store/store.js';
import { NIX_ENV } from './nix.js';

export async function importClosureFromNix(store: Store, roots: string[]): Promise<string[]> {
  const paths = execFileSync('nix-store', ['-qR', ...roots], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  for (const p of paths) {
    const nar = execFileSync('nix-store', ['--dump', p], { env: NIX_ENV, maxBuffer: 1 << 30 });
    const r = await importNar(Readable.from([nar]), store);
    const refs = execFileSync('nix-store', ['-q', '--references', p], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    await store.pathInfos.put({ path: p, node: { ...r.node, name: '' } as never, narHash: r.narHash, narSize: r.narSize, references: refs.sort(), deriver: null, signatures: [], ca: null });
    if (p.endsWith('.drv')) {
      const d = await readDerivation(store, p);
      for (const o of d!.outputs.values()) await store.meta.putMany([[`drv-out:${o.path}`, Buffer.from(p)]]);
    }
  }
  return paths;
}
