// Mutated archives: every one is either accepted (and then re-rendered byte for byte, with the
// right narHash) or rejected with an InvalidInputError carrying an offset inside the input.
import test from 'ava';
import { createHash } from 'node:crypto';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { importNar } from '../../store/nix/nar-import.js';
import { openStore } from '../../store/open-store.js';
import { collect, nixDump, pieces, tempDir } from './nix-oracle.js';

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(nar: Buffer, r: () => number): Buffer {
  const pos = Math.floor(r() * nar.length);
  switch (Math.floor(r() * 6)) {
    case 0: { const b = Buffer.from(nar); b[pos] ^= 1 << Math.floor(r() * 8); return b; }
    case 1: { const b = Buffer.from(nar); b[pos] = Math.floor(r() * 256); return b; }
    case 2: return nar.subarray(0, pos);
    case 3: return Buffer.concat([nar.subarray(0, pos), nar.subarray(Math.min(nar.length, pos + 1 + Math.floor(r() * 24)))]);
    case 4: { const n = 8 * (1 + Math.floor(r() * 6)); const at = pos & ~7; return Buffer.concat([nar.subarray(0, at), nar.subarray(at, at + n), nar.subarray(at)]); }
    default: { const b = Buffer.from(nar); const at = pos & ~7; if (at + 8 <= b.length) b.writeUInt32LE(Math.floor(r() * 0xffffffff), at); return b; }
  }
}

test('2000 mutated NARs: accepted exactly or rejected cleanly', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const root = join(tmp.dir, 'root');
  await mkdir(join(root, 'd/e'), { recursive: true });
  await writeFile(join(root, 'd/e/f'), 'contents of f');
  await writeFile(join(root, 'x'), '#!/bin/sh\n');
  await chmod(join(root, 'x'), 0o755);
  await symlink('d/e/f', join(root, 'l'));
  await writeFile(join(root, 'z'), '');
  const nar = await nixDump(root);
  const store = await openStore('memory://');
  t.teardown(() => store.close());
  const r = rng(20261125);
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < 2000; i++) {
    const m = mutate(nar, r);
    try {
      const res = await importNar(pieces(m, 1 + (i % 50)), store);
      const back = await collect(dumpNar(store, res.node));
      if (!back.equals(m)) t.fail(`mutation ${i} was accepted but renders differently`);
      if (!res.narHash.equals(createHash('sha256').update(m).digest()) || res.narSize !== m.length) t.fail(`mutation ${i}: wrong narHash/narSize`);
      accepted++;
    } catch (e) {
      const err = e as { code?: string; data?: { offset?: unknown }; message: string };
      if (err.code !== 'E_INVALID_INPUT') { t.fail(`mutation ${i} failed with ${err.code ?? 'no code'}: ${err.message}`); continue; }
      const off = err.data?.offset;
      if (typeof off !== 'number' || off < 0 || off > m.length) t.fail(`mutation ${i}: bad offset ${String(off)} (${err.message})`);
      rejected++;
    }
  }
  t.log(`${accepted} accepted, ${rejected} rejected`);
  t.true(rejected > 1000);
  t.pass();
});
