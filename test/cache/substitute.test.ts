// tsix substituting from caches that real Nix 2.8 wrote (`nix copy --to file://…?secret-key=…`,
// xz as Nix's default), and every way such a cache can be wrong: nothing may be registered then.
import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireNix } from '../helpers/nix.js';
import { openStore } from '../../store/open-store.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { formatHash } from '../../store/nix/hash.js';
import { FileBinaryCache } from '../../store/cache/file-cache.js';
import { formatNarInfo, parseNarInfo } from '../../store/cache/narinfo.js';
import { parsePublicKey, parseSecretKey } from '../../store/cache/signing.js';
import { signMeta, narInfoToMeta } from '../../store/cache/path-meta.js';
import { substitute } from '../../store/cache/substitute.js';
import type { Store } from '../../store/store.js';
import { buildNixClosure, nixDelete, nixKeyPair, nixPathInfo, run, scratch, type Scratch } from './fixtures.js';

requireNix();

interface Ctx { s: Scratch; closure: Awaited<ReturnType<typeof buildNixClosure>>; keys: Awaited<ReturnType<typeof nixKeyPair>>; other: Awaited<ReturnType<typeof nixKeyPair>>; cache: string }
let ctx: Ctx;

test.before(async () => {
  const s = await scratch();
  const closure = await buildNixClosure(s.dir, 300_000);
  const keys = await nixKeyPair(s.dir, 'cache-test-1');
  const other = await nixKeyPair(s.dir, 'other-key');
  const cache = join(s.dir, 'cache');
  await run('nix', ['copy', '--to', `file://${cache}?secret-key=${keys.secretFile}`, closure.top]);
  ctx = { s, closure, keys, other, cache };
});

test.after.always(async () => {
  if (!ctx) return;
  await nixDelete(ctx.closure.cleanup);
  await ctx.s.cleanup();
});

/** A copy of the Nix-written cache that a test may damage. */
async function cacheCopy(name: string): Promise<string> {
  const dir = join(ctx.s.dir, name);
  await run('cp', ['-r', ctx.cache, dir]);
  return dir;
}

async function narinfoFile(cache: string, path: string): Promise<string> {
  return join(cache, `${path.slice(11, 43)}.narinfo`);
}

async function withStore<T>(f: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore('memory://');
  try { return await f(store); } finally { await store.close(); }
}

test('substitutes a closure from a Nix-written xz file cache: PathInfos and NARs equal Nix\'s', async (t) => {
  await withStore(async (store) => {
    const info = await substitute(store, [new FileBinaryCache(`file://${ctx.cache}`)], ctx.closure.top, [parsePublicKey(ctx.keys.public)]);
    t.is(info.path, ctx.closure.top);
    t.true((await store.pathInfos.get(ctx.closure.dep.slice(11, 43)))!.references.includes(ctx.closure.dep), 'dep refers to itself');
    const nixInfos = await nixPathInfo(ctx.closure.all, `file://${ctx.cache}`);
    for (const n of nixInfos) {
      const mine = await store.pathInfos.get(n.path.slice(11, 43));
      t.truthy(mine, n.path);
      t.is(formatHash({ algo: 'sha256', digest: mine!.narHash }, 'sri'), n.narHash);
      t.is(mine!.narSize, n.narSize);
      t.deepEqual(mine!.references, [...n.references].sort());
      t.deepEqual(mine!.signatures, [...(n.signatures ?? [])].sort());
      t.is(mine!.ca, n.ca ?? null);
      const parts: Buffer[] = [];
      for await (const b of dumpNar(store, mine!.node)) parts.push(b);
      const nar = Buffer.concat(parts);
      const nixNar = await runBuffer('nix-store', ['--dump', n.path]);
      t.true(nar.equals(nixNar), `NAR of ${n.path}`);
    }
  });
});

async function runBuffer(cmd: string, args: string[]): Promise<Buffer> {
  const { execFileSync } = await import('node:child_process');
  return execFileSync(cmd, args, { maxBuffer: 1 << 28 });
}

async function rejects(t: import('ava').ExecutionContext, cache: string, keys: string[], code: string, pattern: RegExp, opts: { requireSigs?: boolean } = {}) {
  await withStore(async (store) => {
    const err = await t.throwsAsync(substitute(store, [new FileBinaryCache(`file://${cache}`)], ctx.closure.top, keys.map((k) => parsePublicKey(k)), opts));
    t.is((err as { code?: string }).code, code, err?.message);
    t.regex(err!.message, pattern);
    t.is(await store.pathInfos.get(ctx.closure.top.slice(11, 43)), null, 'the failed path is not registered');
  });
}

test('refuses paths signed by an unknown key', async (t) => {
  await rejects(t, ctx.cache, [ctx.other.public], 'E_SIGNATURE', /untrusted keys \('cache-test-1'\)/);
});

test('refuses a narinfo whose signature does not verify (tampered References)', async (t) => {
  const cache = await cacheCopy('tampered-refs');
  const f = await narinfoFile(cache, ctx.closure.top);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  await writeFile(f, formatNarInfo({ ...ni, references: [] }));
  await rejects(t, cache, [ctx.keys.public], 'E_SIGNATURE', /does not verify/);
});

test('refuses unsigned input-addressed paths, accepts them when signatures are not required', async (t) => {
  const cache = await cacheCopy('unsigned');
  for (const name of await readdir(cache)) {
    if (!name.endsWith('.narinfo')) continue;
    const f = join(cache, name);
    await writeFile(f, (await readFile(f, 'utf8')).replace(/^Sig: .*\n/mg, ''));
  }
  await rejects(t, cache, [ctx.keys.public], 'E_SIGNATURE', /has no signatures/);
  await withStore(async (store) => {
    const info = await substitute(store, [new FileBinaryCache(`file://${cache}`)], ctx.closure.top, [], { requireSigs: false });
    t.is(info.path, ctx.closure.top);
  });
});

test('accepts an unsigned content-addressed path (its store path follows from its CA)', async (t) => {
  const cache = await cacheCopy('unsigned-ca');
  const f = await narinfoFile(cache, ctx.closure.text);
  await writeFile(f, (await readFile(f, 'utf8')).replace(/^Sig: .*\n/mg, ''));
  await withStore(async (store) => {
    const info = await substitute(store, [new FileBinaryCache(`file://${cache}`)], ctx.closure.text, []);
    t.true(info.ca!.startsWith('text:sha256:'));
  });
});

test('refuses a tampered NAR file (FileHash mismatch)', async (t) => {
  const cache = await cacheCopy('tampered-nar');
  const f = await narinfoFile(cache, ctx.closure.dep);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  const nar = join(cache, ni.url);
  const bytes = await readFile(nar);
  bytes[Math.floor(bytes.length / 2)] ^= 0x40;
  await writeFile(nar, bytes);
  await rejects(t, cache, [ctx.keys.public], 'E_HASH_MISMATCH', /NAR file of '.*-dep-/);
});

test('refuses a truncated NAR file', async (t) => {
  const cache = await cacheCopy('truncated-nar');
  const f = await narinfoFile(cache, ctx.closure.dep);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  // Drop FileHash/FileSize so that the truncation is found by the decompressor / NAR check itself.
  await writeFile(f, formatNarInfo({ ...ni, fileHash: null, fileSize: null }));
  const nar = join(cache, ni.url);
  const bytes = await readFile(nar);
  await writeFile(nar, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await withStore(async (store) => {
    const err = await t.throwsAsync(substitute(store, [new FileBinaryCache(`file://${cache}`)], ctx.closure.top, [parsePublicKey(ctx.keys.public)]));
    t.regex(err!.message, /xz|NAR|unexpected end/i);
    t.is(await store.pathInfos.get(ctx.closure.top.slice(11, 43)), null);
    t.is(await store.pathInfos.get(ctx.closure.dep.slice(11, 43)), null);
  });
});

test('refuses a NAR that does not match a validly signed lying NarHash', async (t) => {
  // The key holder itself lies: the narinfo is signed, but its NarHash is not the NAR's.
  const cache = await cacheCopy('lying-narhash');
  const f = await narinfoFile(cache, ctx.closure.dep);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  const lying = { ...ni, narHash: Buffer.alloc(32, 7), sigs: [] as string[] };
  lying.sigs = [signMeta(narInfoToMeta(lying), parseSecretKey(ctx.keys.secret))];
  await writeFile(f, formatNarInfo(lying));
  await rejects(t, cache, [ctx.keys.public], 'E_HASH_MISMATCH', /hash mismatch in NAR of '.*-dep-/);
});

test('refuses a NAR that is longer than a validly signed NarSize', async (t) => {
  const cache = await cacheCopy('lying-narsize');
  const f = await narinfoFile(cache, ctx.closure.dep);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  const lying = { ...ni, narSize: ni.narSize - 8, sigs: [] as string[] };
  lying.sigs = [signMeta(narInfoToMeta(lying), parseSecretKey(ctx.keys.secret))];
  await writeFile(f, formatNarInfo(lying));
  await rejects(t, cache, [ctx.keys.public], 'E_HASH_MISMATCH', /NAR size of '.*-dep-/);
});

test('a missing path is NotFound', async (t) => {
  await withStore(async (store) => {
    const err = await t.throwsAsync(substitute(store, [new FileBinaryCache(`file://${ctx.cache}`)], '/nix/store/00000000000000000000000000000000-nope', []));
    t.is((err as { code?: string }).code, 'E_NOT_FOUND');
  });
});

for (const compression of ['none', 'zstd', 'bzip2'] as const) {
  test(`substitutes from a Nix-written cache with compression=${compression}`, async (t) => {
    const dir = join(ctx.s.dir, `cache-${compression}`);
    await run('nix', ['copy', '--to', `file://${dir}?compression=${compression}&secret-key=${ctx.keys.secretFile}`, ctx.closure.top]);
    await withStore(async (store) => {
      const info = await substitute(store, [new FileBinaryCache(`file://${dir}`)], ctx.closure.top, [parsePublicKey(ctx.keys.public)]);
      const dep = await store.pathInfos.get(ctx.closure.dep.slice(11, 43));
      t.is(info.path, ctx.closure.top);
      const nixInfo = (await nixPathInfo([ctx.closure.dep]))[0]!;
      t.is(formatHash({ algo: 'sha256', digest: dep!.narHash }, 'sri'), nixInfo.narHash);
    });
  });
}

test('an unsigned content-addressed narinfo pointing at other contents is refused', async (t) => {
  // Unsigned, so the attacker controls NarHash/NarSize: they match the fake NAR, and the store
  // path still follows from the (unchanged) CA field. Only checking the contents against CA catches it.
  const cache = await cacheCopy('fake-ca');
  const f = await narinfoFile(cache, ctx.closure.text);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  const fakeFile = join(ctx.s.dir, 'fake-contents');
  await writeFile(fakeFile, 'not what the content address says');
  const { execFileSync } = await import('node:child_process');
  const fakeNar = execFileSync('nix-store', ['--dump', fakeFile]);
  await writeFile(join(cache, 'nar', 'fake.nar'), fakeNar);
  const { createHash } = await import('node:crypto');
  await writeFile(f, formatNarInfo({ ...ni, url: 'nar/fake.nar', compression: 'none', fileHash: null, fileSize: null,
    narHash: createHash('sha256').update(fakeNar).digest(), narSize: fakeNar.length, sigs: [] }));
  await withStore(async (store) => {
    const err = await t.throwsAsync(substitute(store, [new FileBinaryCache(`file://${cache}`)], ctx.closure.text, []));
    t.is((err as { code?: string }).code, 'E_HASH_MISMATCH');
    t.regex(err!.message, /content address of '.*-a-/);
    t.is(await store.pathInfos.get(ctx.closure.text.slice(11, 43)), null);
  });
});
