// The worker-thread SHA-256 used for large ingests equals node:crypto's over the same bytes.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { OffloadedSha256, sharedBuffer } from '../../store/hash/offload-sha256.js';

test('copied and shared pieces, in any sizes, hash as one stream', async (t) => {
  const h = new OffloadedSha256();
  const ref = createHash('sha256');
  for (let i = 0; i < 300; i++) {
    const n = [0, 1, 13, 4096, 70_000, 1 << 20, (3 << 20) + 7][i % 7]!;
    const b = randomBytes(n);
    ref.update(b);
    if (i % 3 === 0) {
      const s = sharedBuffer(n);
      b.copy(s);
      h.updateShared(s);
    } else {
      h.update(b);
      b.fill(0); // the caller may reuse a copied piece at once
    }
  }
  t.true((await h.digest()).equals(ref.digest()));
});

test('an empty stream', async (t) => {
  const h = new OffloadedSha256();
  t.true((await h.digest()).equals(createHash('sha256').digest()));
});

test('a large tree ingested (NAR hashed on a worker) and its NAR imported with the hash on a worker agree, and every file blob is BLAKE3 of the file', async (t) => {
  const { mkdtemp, mkdir, writeFile, readFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { openStore } = await import('../../store/open-store.js');
  const { ingestPath } = await import('../../store/import/ingest.js');
  const { dumpNar } = await import('../../store/nix/nar-dump.js');
  const { importNar } = await import('../../store/nix/nar-import.js');
  const { blake3 } = await import('../../store/hash/blake3.js');
  const dir = await mkdtemp(join(tmpdir(), 'tsix-offload-'));
  try {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    const files: [string, Buffer][] = [];
    for (let i = 0; i < 5; i++) files.push([join(tree, `big-${i}`), randomBytes((8 << 20) + i * 4099)]);
    for (let i = 0; i < 300; i++) files.push([join(tree, 'sub', `s-${i}`), randomBytes(i * 37)]);
    for (const [p, b] of files) await writeFile(p, b);
    const store = await openStore(`level://${join(dir, 'store')}`);
    const r = await ingestPath(store, tree);
    const chunks: Buffer[] = [];
    for await (const b of dumpNar(store, r.node)) chunks.push(Buffer.from(b));
    const nar = Buffer.concat(chunks);
    t.true(r.narHash.equals(createHash('sha256').update(nar).digest()), 'narHash of the ingest is the sha256 of its NAR');
    t.is(r.narSize, nar.length);
    const other = await openStore('memory://');
    const imp = await importNar((async function* () { for (let i = 0; i < nar.length; i += 100_000) yield nar.subarray(i, i + 100_000); })(), other, { expectedNarHash: r.narHash });
    t.true(imp.narHash.equals(r.narHash));
    t.true(imp.node.type === 'directory' && r.node.type === 'directory' && imp.node.digest.equals(r.node.digest), 'same castore tree');
    for (const [p] of files.slice(0, 8)) {
      const want = blake3(await readFile(p));
      t.true((await store.blobs.stat(want)) !== null, `blob of ${p} stored under BLAKE3 of the file`);
    }
    await other.close();
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
