// A layered store (local store in front of binary caches) over a cache written by real Nix:
// lookups that miss locally substitute the closure and write it through.
import test from 'ava';
import { join } from 'node:path';
import { requireNix } from '../helpers/nix.js';
import { openStore } from '../../store/open-store.js';
import { openLayeredStore, parseLayeredUrl, LayeredStore } from '../../store/layered/layered-store.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { buildNixClosure, nixDelete, nixKeyPair, run, scratch, type Scratch } from './fixtures.js';
import { createHash } from 'node:crypto';

requireNix();

let s: Scratch;
let closure: Awaited<ReturnType<typeof buildNixClosure>>;
let keys: Awaited<ReturnType<typeof nixKeyPair>>;
let cacheUrl: string;

test.before(async () => {
  s = await scratch();
  closure = await buildNixClosure(s.dir, 50_000);
  keys = await nixKeyPair(s.dir, 'layered-key');
  cacheUrl = `file://${join(s.dir, 'cache')}`;
  await run('nix', ['copy', '--to', `${cacheUrl}?secret-key=${keys.secretFile}&compression=zstd`, closure.top]);
});
test.after.always(async () => {
  if (closure) await nixDelete(closure.cleanup);
  await s?.cleanup();
});

const open = (url: string) => openStore(url);

test('URL parameters: local part, substituters, keys, require-sigs', (t) => {
  const cfg = parseLayeredUrl(`level:///var/lib/tsix?substituter=http://a&substituters=file:///b%20http://c&trusted-public-key=${encodeURIComponent(keys.public)}&require-sigs=false&other=1`)!;
  t.is(cfg.localUrl, 'level:///var/lib/tsix?other=1');
  t.deepEqual(cfg.substituters, ['http://a', 'file:///b', 'http://c']);
  t.is(cfg.trustedKeys[0]!.name, 'layered-key');
  t.false(cfg.requireSigs);
  t.is(parseLayeredUrl('memory://'), null);
  t.throws(() => parseLayeredUrl('memory://?substituter=http://a&require-sigs=maybe'), { message: /require-sigs/ });
});

test('a miss substitutes the closure (zstd cache written by Nix) and writes it through', async (t) => {
  const store = await openLayeredStore(`memory://?substituter=${encodeURIComponent(cacheUrl)}&trusted-public-key=${encodeURIComponent(keys.public)}`, open);
  try {
    t.true(store instanceof LayeredStore);
    const local = (store as LayeredStore).local;
    t.is(await local.pathInfos.get(closure.top.slice(11, 43)), null);
    const [a, b] = await Promise.all([store.pathInfos.get(closure.top.slice(11, 43)), store.pathInfos.get(closure.top.slice(11, 43))]);
    t.is(a!.path, closure.top);
    t.is(b!.path, closure.top);
    for (const p of closure.all) t.truthy(await local.pathInfos.get(p.slice(11, 43)), `${p} written through`);
    const info = (await local.pathInfos.get(closure.dep.slice(11, 43)))!;
    const h = createHash('sha256');
    for await (const c of dumpNar(store, info.node)) h.update(c);
    t.true(h.digest().equals(info.narHash));
    t.is(await store.pathInfos.get('0'.repeat(32)), null, 'absent everywhere is null');
  } finally { await store.close(); }
});

test('an untrusted cache makes the lookup fail, not silently absent', async (t) => {
  const other = await nixKeyPair(s.dir, 'not-the-key');
  const store = await openLayeredStore(`memory://?substituter=${encodeURIComponent(cacheUrl)}&trusted-public-key=${encodeURIComponent(other.public)}`, open);
  try {
    await t.throwsAsync(store.pathInfos.get(closure.dep.slice(11, 43)), { code: 'E_SIGNATURE' } as never);
    t.is(await (store as LayeredStore).local.pathInfos.get(closure.dep.slice(11, 43)), null);
  } finally { await store.close(); }
});

test('coordinator hooks: substituteHook answers true/false and signHook signs like Nix', async (t) => {
  const { substituteHook, signHook } = await import('../../store/cache/hooks.js');
  const { parseSecretKey, fingerprint, verifySignature, keyMap, parsePublicKey } = await import('../../store/cache/signing.js');
  const store = await openStore('memory://');
  try {
    const hook = await substituteHook(store, [cacheUrl], [keys.public]);
    t.true(await hook(closure.top));
    t.truthy(await store.pathInfos.get(closure.text.slice(11, 43)));
    t.false(await hook(`/nix/store/${'4'.repeat(32)}-absent`));
    const info = (await store.pathInfos.get(closure.dep.slice(11, 43)))!;
    const [sig] = signHook(parseSecretKey(keys.secret))(info);
    t.true(info.signatures.includes(sig!), 'the same signature Nix made with the same key');
    t.true(verifySignature(sig!, fingerprint(info), keyMap([parsePublicKey(keys.public)])));
  } finally { await store.close(); }
});

test('narinfo lookups are remembered in the local store across reopenings (negative for an hour)', async (t) => {
  const { rename } = await import('node:fs/promises');
  const dir = join(s.dir, 'persist-cache');
  await run('cp', ['-r', join(s.dir, 'cache'), dir]);
  const hp = closure.text.slice(11, 43);
  await rename(join(dir, `${hp}.narinfo`), join(dir, 'hidden'));
  const url = `level://${join(s.dir, 'persist-store')}?substituter=${encodeURIComponent(`file://${dir}`)}&trusted-public-key=${encodeURIComponent(keys.public)}`;
  const first = await openLayeredStore(url, (u) => openStore(u, { direct: true }));
  try { t.is(await first.pathInfos.get(hp), null); } finally { await first.close(); }
  await rename(join(dir, 'hidden'), join(dir, `${hp}.narinfo`));
  const second = await openLayeredStore(url, (u) => openStore(u, { direct: true }));
  try {
    t.is(await second.pathInfos.get(hp), null, 'still absent: the negative lookup was remembered');
  } finally { await second.close(); }
  const fresh = await openLayeredStore(url.replace('persist-store', 'persist-store-2'), (u) => openStore(u, { direct: true }));
  try {
    t.truthy(await fresh.pathInfos.get(hp), 'another local store asks the cache itself');
  } finally { await fresh.close(); }
});
