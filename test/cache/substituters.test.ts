// Several substituters: priority order, falling back when a download fails, narinfo TTL caching.
import test from 'ava';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireNix } from '../helpers/nix.js';
import { openStore } from '../../store/open-store.js';
import { FileBinaryCache } from '../../store/cache/file-cache.js';
import { parseNarInfo } from '../../store/cache/narinfo.js';
import { parsePublicKey } from '../../store/cache/signing.js';
import { NarInfoCache, openSubstituter, sortByPriority } from '../../store/cache/substituter.js';
import { substitute } from '../../store/cache/substitute.js';
import { buildNixClosure, nixDelete, nixKeyPair, run, scratch, type Scratch } from './fixtures.js';

requireNix();

let s: Scratch;
let closure: Awaited<ReturnType<typeof buildNixClosure>>;
let keys: Awaited<ReturnType<typeof nixKeyPair>>;

test.before(async () => {
  s = await scratch();
  closure = await buildNixClosure(s.dir, 20_000);
  keys = await nixKeyPair(s.dir, 'multi-key');
  for (const [name, prio] of [['good', 60], ['broken', 10]] as const) {
    await run('nix', ['copy', '--to', `file://${join(s.dir, name)}?secret-key=${keys.secretFile}&compression=zstd`, closure.top]);
    await writeFile(join(s.dir, name, 'nix-cache-info'), `StoreDir: /nix/store\nPriority: ${prio}\n`);
  }
  // The preferred cache has every NAR file of dep missing.
  const f = join(s.dir, 'broken', `${closure.dep.slice(11, 43)}.narinfo`);
  const ni = parseNarInfo(await readFile(f, 'utf8'), f);
  await rm(join(s.dir, 'broken', ni.url));
});
test.after.always(async () => {
  if (closure) await nixDelete(closure.cleanup);
  await s?.cleanup();
});

test('priorities come from nix-cache-info or ?priority=, lower first', async (t) => {
  const good = new FileBinaryCache(`file://${join(s.dir, 'good')}`);
  const broken = new FileBinaryCache(`file://${join(s.dir, 'broken')}`);
  t.deepEqual((await sortByPriority([good, broken])).map((c) => c.url), [broken.url, good.url]);
  const overridden = await openSubstituter(`file://${join(s.dir, 'broken')}?priority=99`);
  t.is(await overridden.priority(), 99);
  t.deepEqual((await sortByPriority([overridden, good])).map((c) => c.url), [good.url, overridden.url]);
});

test('a failed download falls back to the next substituter that has the path', async (t) => {
  const store = await openStore('memory://');
  try {
    const subs = [new FileBinaryCache(`file://${join(s.dir, 'good')}`), new FileBinaryCache(`file://${join(s.dir, 'broken')}`)];
    const info = await substitute(store, subs, closure.top, [parsePublicKey(keys.public)]);
    t.is(info.path, closure.top);
    t.truthy(await store.pathInfos.get(closure.dep.slice(11, 43)));
  } finally { await store.close(); }
  const only = await openStore('memory://');
  try {
    const err = await t.throwsAsync(substitute(only, [new FileBinaryCache(`file://${join(s.dir, 'broken')}`)], closure.top, [parsePublicKey(keys.public)]));
    t.regex(err!.message, /NAR file .* does not exist/);
    t.is(await only.pathInfos.get(closure.top.slice(11, 43)), null);
  } finally { await only.close(); }
});

test('narinfo lookups are remembered for their TTL, absent ones for the negative TTL', async (t) => {
  let now = 1000;
  const c = new NarInfoCache(100, 10, () => now);
  const ni = parseNarInfo(`StorePath: ${closure.top}\nURL: nar/x.nar\nNarHash: sha256:${'0'.repeat(52)}\nNarSize: 8\nReferences: \n`, 'x');
  c.set('a', ni);
  c.set('b', null);
  t.is(c.get('a'), ni);
  t.is(c.get('b'), null);
  t.is(c.get('c'), undefined);
  now += 10;
  t.is(c.get('b'), undefined, 'negative entry expired');
  t.is(c.get('a'), ni);
  now += 90;
  t.is(c.get('a'), undefined, 'positive entry expired');
  // A file cache answers from memory within the TTL, even if the file disappears meanwhile.
  const dir = join(s.dir, 'ttl');
  await run('cp', ['-r', join(s.dir, 'good'), dir]);
  const cache = new FileBinaryCache(`file://${dir}`);
  const hp = closure.text.slice(11, 43);
  t.truthy(await cache.queryNarInfo(hp));
  await rm(join(dir, `${hp}.narinfo`));
  t.truthy(await cache.queryNarInfo(hp));
  t.false(await cache.hasNarInfo(hp), 'hasNarInfo asks the cache itself');
  const negative = new FileBinaryCache(`file://${dir}`, { negativeTtl: 0 });
  t.is(await negative.queryNarInfo(hp), null);
});

test('an unreachable cache is skipped when another one answers; alone, it is an error, not "absent"', async (t) => {
  const { HttpBinaryCache } = await import('../../store/cache/http-cache.js');
  const http = await import('node:http');
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => probe.close(r)); // nothing listens there now
  const down = new HttpBinaryCache(`http://127.0.0.1:${port}`, { priority: 1 });
  const store = await openStore('memory://');
  try {
    const info = await substitute(store, [down, new FileBinaryCache(`file://${join(s.dir, 'good')}`)], closure.top, [parsePublicKey(keys.public)]);
    t.is(info.path, closure.top);
  } finally { await store.close(); }
  const alone = await openStore('memory://');
  try {
    await t.throwsAsync(substitute(alone, [new HttpBinaryCache(`http://127.0.0.1:${port}`)], closure.top, [parsePublicKey(keys.public)]), { code: 'E_TRANSFER' } as never);
  } finally { await alone.close(); }
});
