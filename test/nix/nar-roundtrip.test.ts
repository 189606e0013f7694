// NAR round trip against real Nix: nix-store --dump → importNar → dumpNar must give the same
// bytes, narHash/narSize must match Nix, the filesystem dumper and restorer must agree with Nix.
import test from 'ava';
import { join } from 'node:path';
import { openStore } from '../../store/open-store.js';
import { encodeBase32 } from '../../store/nix/base32.js';
import { formatHash } from '../../store/nix/hash.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { dumpPathNar } from '../../store/nix/nar-from-fs.js';
import { importNar } from '../../store/nix/nar-import.js';
import { restoreNarToFs } from '../../store/nix/nar-restore-fs.js';
import { ingestPath } from '../../store/import/ingest.js';
import { collect, nixDelete, nixDump, nixOut, pieces, tempDir, TREES } from './nix-oracle.js';

for (const [name, build] of Object.entries(TREES)) {
  test(`NAR round trip: ${name}`, async (t) => {
    const tmp = await tempDir();
    t.teardown(tmp.cleanup);
    const root = join(tmp.dir, 'root');
    await build(root);
    const nar = await nixDump(root);

    // The filesystem dumper is byte-identical with nix-store --dump.
    const fromFs = await collect(dumpPathNar(root));
    t.true(fromFs.equals(nar), 'dumpPathNar differs from nix-store --dump');
    t.true((await collect(dumpPathNar(root, { blocking: false }))).equals(nar), 'dumpPathNar (blocking: false) differs from nix-store --dump');

    const store = await openStore('memory://');
    t.teardown(() => store.close());
    // Odd piece sizes make every token straddle piece boundaries somewhere.
    for (const size of [nar.length, 7, 4093]) {
      const r = await importNar(pieces(nar, size), store);
      t.is(r.narSize, nar.length);
      t.is(encodeBase32(r.narHash), await nixOut('nix-hash', ['--type', 'sha256', '--base32', root]));
      const back = await collect(dumpNar(store, r.node));
      t.true(back.equals(nar), `dumpNar of the imported tree differs from the original NAR (piece size ${size})`);
    }

    // narHash/narSize as `nix path-info` reports them for the same tree added to the Nix store.
    if (name === 'mixed tree' || name === 'single symlink') {
      const added = await nixOut('nix-store', ['--add', root]);
      t.teardown(() => nixDelete([added]));
      const [info] = JSON.parse(await nixOut('nix', ['path-info', '--json', added])) as { narHash: string; narSize: number }[];
      const viaNar = await importNar(pieces(nar, 65536), store);
      t.is(formatHash({ algo: 'sha256', digest: viaNar.narHash }, 'sri'), info!.narHash);
      t.is(viaNar.narSize, info!.narSize);
    }

    // The filesystem ingest (store/import) builds the very same castore tree.
    const ing = await ingestPath(store, root);
    const viaNar = await importNar(pieces(nar, 65536), store);
    t.deepEqual({ ...ing.node, name: '' }, viaNar.node, 'ingestPath and importNar disagree on the castore tree');
    t.true(ing.narHash.equals(viaNar.narHash));

    // nix-store --restore semantics: restoring gives a tree that Nix dumps identically.
    const restored = join(tmp.dir, 'restored');
    const res = await restoreNarToFs(pieces(nar, 65536), restored);
    t.is(res.narSize, nar.length);
    t.true((await nixDump(restored)).equals(nar), 'restored tree dumps differently');
    const again = await t.throwsAsync(restoreNarToFs(pieces(nar, 65536), restored));
    t.is((again as { data?: { errno?: string } }).data?.errno, 'EEXIST');
    t.regex(again!.message, /^creating (directory|file|symlink) '.*': File exists$/);
  });
}

test('references are scanned in contents, symlink targets and names, as Nix scans the NAR', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const h1 = '0123456789abcdfghijklmnpqrsvwxyz';
  const h2 = 'zyxwvsrqpnmlkjihgfdcba9876543210';
  const h3 = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const h4 = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
  const h5 = 'cccccccccccccccccccccccccccccccc';
  const { mkdir, writeFile, symlink } = await import('node:fs/promises');
  const root = join(tmp.dir, 'root');
  await mkdir(root);
  await writeFile(join(root, 'f'), `x/nix/store/${h1}-a y`);
  await symlink(`/nix/store/${h2}-b/bin`, join(root, 'l'));
  await writeFile(join(root, `${h3}-named`), 'no refs here');
  // A hash split across two files must not count.
  await writeFile(join(root, 'g1'), h4.slice(0, 16));
  await writeFile(join(root, 'g2'), h4.slice(16));
  const nar = await nixDump(root);
  const store = await openStore('memory://');
  t.teardown(() => store.close());
  const needles = [`/nix/store/${h1}-a`, h2, `/nix/store/${h3}-x`, h4, `/nix/store/${h5}-absent`];
  const r = await importNar(pieces(nar, 5), store, { needles });
  t.deepEqual(r.references, [`/nix/store/${h1}-a`, `/nix/store/${h3}-x`, h2].sort());
});

test('importNar checks an expected NAR hash and size before storing any directory', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const root = join(tmp.dir, 'root');
  await TREES['mixed tree']!(root);
  const nar = await nixDump(root);
  const store = await openStore('memory://');
  t.teardown(() => store.close());
  let puts = 0;
  const cas = { blobs: store.blobs, directories: { get: store.directories.get.bind(store.directories), has: store.directories.has.bind(store.directories), putMany: (d: Parameters<typeof store.directories.putMany>[0]) => { puts++; return store.directories.putMany(d); } } };
  const good = await importNar(pieces(nar, 65536), store);
  const wrong = Buffer.from(good.narHash);
  wrong[0] ^= 1;
  const e = await t.throwsAsync(importNar(pieces(nar, 65536), cas, { expectedNarHash: wrong }));
  t.is((e as { code?: string }).code, 'E_HASH_MISMATCH');
  const e2 = await t.throwsAsync(importNar(pieces(nar, 65536), cas, { expectedNarHash: good.narHash, expectedNarSize: nar.length + 8 }));
  t.is((e2 as { code?: string }).code, 'E_HASH_MISMATCH');
  t.is(puts, 0);
  const ok = await importNar(pieces(nar, 65536), cas, { expectedNarHash: good.narHash, expectedNarSize: nar.length });
  t.deepEqual(ok.node, good.node);
  t.is(puts, 1);
});

test('non-UTF-8 names: the filesystem dumper and restorer keep the bytes; importNar refuses them', async (t) => {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const root = join(tmp.dir, 'root');
  await mkdir(root);
  await writeFile(Buffer.concat([Buffer.from(root + '/bad-'), Buffer.from([0xff, 0xfe])]), 'latin');
  await writeFile(join(root, 'good'), 'ok');
  const nar = await nixDump(root);
  t.true((await collect(dumpPathNar(root))).equals(nar));
  const restored = join(tmp.dir, 'restored');
  await restoreNarToFs(pieces(nar, 100), restored);
  t.true((await nixDump(restored)).equals(nar));
  const store = await openStore('memory://');
  t.teardown(() => store.close());
  const e = await t.throwsAsync(importNar(pieces(nar, 100), store));
  t.is((e as { code?: string }).code, 'E_INVALID_INPUT');
  t.regex(e!.message, /entry name "bad-\\xff\\xfe" is not valid UTF-8 at byte \d+$/);
});

test('dumpNar fails cleanly on a missing directory or blob and on a blob of the wrong size', async (t) => {
  const store = await openStore('memory://');
  t.teardown(() => store.close());
  const w = store.blobs.writer();
  await w.write(Buffer.from('twelve bytes'));
  const blob = await w.close();
  const missing = Buffer.alloc(32, 7);
  const cases: [import('../../store/castore/nodes.js').Node, string, RegExp][] = [
    [{ type: 'directory', name: '', digest: missing, size: 1 }, 'E_NOT_FOUND', /directory 0707/],
    [{ type: 'file', name: '', digest: missing, size: 3, executable: false }, 'E_NOT_FOUND', /blob 0707/],
    [{ type: 'file', name: '', digest: blob.digest, size: 13, executable: false }, 'E_CORRUPT', /has 12 bytes, its directory entry says 13/],
  ];
  for (const [node, code, re] of cases) {
    const e = await t.throwsAsync(collect(dumpNar(store, node)));
    t.is((e as { code?: string }).code, code);
    t.regex(e!.message, re);
  }
  const [dirDigest] = await store.directories.putMany([{ directories: [], files: [{ name: 'f', digest: missing, size: 100_000, executable: false }], symlinks: [] }]);
  const e = await t.throwsAsync(collect(dumpNar(store, { type: 'directory', name: '', digest: dirDigest!, size: 1 })));
  t.is((e as { code?: string }).code, 'E_NOT_FOUND');
});

test('dumpNar keeps the order of contents whatever pieces the blob service streams', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const root = join(tmp.dir, 'root');
  await TREES['mixed tree']!(root);
  const nar = await nixDump(root);
  const store = await openStore('memory://');
  t.teardown(() => store.close());
  const r = await importNar(pieces(nar, 65536), store);
  // The same blobs, streamed in pieces of irregular sizes around the batching thresholds.
  const sizes = [1, 4095, 4096, 3, 70000, 17, 262144, 5000];
  const blobs = Object.create(store.blobs) as typeof store.blobs;
  blobs.open = async (digest) => {
    const whole = await store.blobs.read(digest, 0, Number.MAX_SAFE_INTEGER);
    if (!whole) return null;
    return (async function* () {
      let off = 0;
      for (let i = 0; off < whole.length; i++) {
        const n = sizes[i % sizes.length]!;
        yield whole.subarray(off, off + n);
        off += n;
      }
    })();
  };
  const back = await collect(dumpNar({ blobs, directories: store.directories }, r.node));
  t.true(back.equals(nar));
});
