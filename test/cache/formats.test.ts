// narinfo, signatures and compression, differentially against real Nix 2.8.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireNix } from '../helpers/nix.js';
import { formatNarInfo, parseNarInfo, parseCacheInfo, formatCacheInfo } from '../../store/cache/narinfo.js';
import { fingerprint, generateKeyPair, keyMap, parsePublicKey, parseSecretKey, signFingerprint, verifySignature } from '../../store/cache/signing.js';
import { narInfoToMeta, signMeta, isContentAddressed } from '../../store/cache/path-meta.js';
import { compress, decompress, COMPRESSIONS } from '../../store/cache/compression.js';
import { buildNixClosure, nixDelete, nixKeyPair, run, scratch, type Scratch } from './fixtures.js';

requireNix();

let s: Scratch;
let closure: Awaited<ReturnType<typeof buildNixClosure>>;
let nixKeys: Awaited<ReturnType<typeof nixKeyPair>>;
let cache: string;

test.before(async () => {
  s = await scratch();
  closure = await buildNixClosure(s.dir, 1000);
  nixKeys = await nixKeyPair(s.dir, 'formats-key');
  cache = join(s.dir, 'cache');
  await run('nix', ['copy', '--to', `file://${cache}?secret-key=${nixKeys.secretFile}`, closure.top]);
});
test.after.always(async () => {
  if (closure) await nixDelete(closure.cleanup);
  await s?.cleanup();
});

async function nixNarInfos(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.narinfo'));
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}

test('narinfo written by Nix parses and formats back byte for byte (Sig, CA, Deriver, References)', async (t) => {
  const texts = await nixNarInfos(cache);
  t.is(texts.length, 3);
  let sawDeriver = false; let sawCa = false; let sawRefs = false;
  for (const text of texts) {
    const ni = parseNarInfo(text, 'nix');
    t.is(formatNarInfo(ni), text);
    sawDeriver ||= ni.deriver !== null; sawCa ||= ni.ca !== null; sawRefs ||= ni.references.length > 0;
  }
  t.true(sawDeriver && sawCa && sawRefs);
  t.deepEqual(parseCacheInfo(await readFile(join(cache, 'nix-cache-info'), 'utf8'), 'nix'), { storeDir: '/nix/store', wantMassQuery: false, priority: null });
  t.is(formatCacheInfo({ storeDir: '/nix/store', wantMassQuery: false, priority: null }), await readFile(join(cache, 'nix-cache-info'), 'utf8'));
});

test('narinfo parsing: defaults, accepted hash forms, clear errors', (t) => {
  const base = `StorePath: ${closure.dep}\nURL: nar/x.nar\nNarHash: sha256-${Buffer.alloc(32, 1).toString('base64')}\nNarSize: 8\nReferences: \nDeriver: unknown-deriver\nSomeFutureKey: x\n`;
  const ni = parseNarInfo(base, 'test');
  t.is(ni.compression, 'bzip2');
  t.is(ni.deriver, null);
  t.true(ni.narHash.equals(Buffer.alloc(32, 1)));
  t.throws(() => parseNarInfo(base.replace('NarSize: 8\n', ''), 'x.narinfo'), { message: /x\.narinfo.*NarSize/ });
  t.throws(() => parseNarInfo(base.replace('StorePath: /nix/store/', 'StorePath: /tmp/'), 'y'), { message: /not a valid store path/ });
  t.throws(() => parseNarInfo(base.replace(/NarHash: .*\n/, 'NarHash: sha256:zzz\n'), 'z'), { message: /NarHash/ });
  t.throws(() => parseNarInfo(base.slice(0, -1), 'w'), { message: /newline/ });
});

test('signatures: tsix signs exactly as Nix (ed25519 is deterministic) with a Nix-generated key', async (t) => {
  const sk = parseSecretKey(nixKeys.secret);
  t.is(`${sk.publicKey.name}:${sk.publicKey.raw.toString('base64')}`, nixKeys.public);
  for (const text of await nixNarInfos(cache)) {
    const meta = narInfoToMeta(parseNarInfo(text, 'nix'));
    t.deepEqual(meta.signatures, [signMeta(meta, sk)]);
    t.true(verifySignature(meta.signatures[0]!, fingerprint(meta), keyMap([parsePublicKey(nixKeys.public)])));
  }
});

test('a tsix-generated key works in Nix: nix copy signs with it, nix store verify accepts it', async (t) => {
  const kp = generateKeyPair('tsix-made');
  const sec = join(s.dir, 'tsix-made.sec');
  await writeFile(sec, kp.secret);
  const c2 = join(s.dir, `cache-${randomBytes(3).toString('hex')}`);
  await run('nix', ['copy', '--to', `file://${c2}?secret-key=${sec}`, closure.dep]);
  const meta = narInfoToMeta(parseNarInfo(await readFile(join(c2, `${closure.dep.slice(11, 43)}.narinfo`), 'utf8'), 'nix'));
  t.deepEqual(meta.signatures, [signFingerprint(parseSecretKey(kp.secret), fingerprint(meta))]);
  await run('nix', ['store', 'verify', '--store', `file://${c2}`, '--trusted-public-keys', kp.public, closure.dep]);
  const other = generateKeyPair('tsix-made');
  const out = await run('sh', ['-c', `nix store verify --store file://${c2} --trusted-public-keys '${other.public}' ${closure.dep} 2>&1 || true`]);
  t.regex(out, /untrusted|lacks a signature/);
});

test('key parsing errors name the problem', (t) => {
  t.throws(() => parseSecretKey('nocolon'), { message: /NAME:BASE64/ });
  t.throws(() => parseSecretKey(`k:${Buffer.alloc(32).toString('base64')}`), { message: /32 bytes, a secret key has 64/ });
  t.throws(() => parsePublicKey(`k:${Buffer.alloc(64).toString('base64')}`), { message: /64 bytes, a public key has 32/ });
  const kp = generateKeyPair('k');
  const raw = Buffer.from(kp.secret.slice(2), 'base64');
  raw[40] ^= 1;
  t.throws(() => parseSecretKey(`k:${raw.toString('base64')}`), { message: /public half/ });
});

test('content-addressed check follows Nix: the text path is CA, the built ones are not', async (t) => {
  for (const text of await nixNarInfos(cache)) {
    const meta = narInfoToMeta(parseNarInfo(text, 'nix'));
    t.is(isContentAddressed(meta), meta.path === closure.text, meta.path);
    if (meta.ca) t.false(isContentAddressed({ ...meta, path: closure.dep }));
  }
});

async function collect(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(c);
  return Buffer.concat(parts);
}

test('compression round trips for every method, and interoperates with the command-line tools', async (t) => {
  const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 7)]);
  for (const m of COMPRESSIONS) {
    const packed = await collect(compress(m, [data.subarray(0, 1000), data.subarray(1000)]));
    const back = await collect(decompress(m, [packed]));
    t.true(back.equals(data), m);
  }
  const xzFile = join(s.dir, 'd.xz');
  await writeFile(join(s.dir, 'd'), data);
  await run('sh', ['-c', `xz -kc ${join(s.dir, 'd')} > ${xzFile}`]);
  t.true((await collect(decompress('xz', [await readFile(xzFile)]))).equals(data));
});

test('corrupt or truncated compressed data fails with a CompressionError', async (t) => {
  const packed = await collect(compress('zstd', [randomBytes(100_000)]));
  await t.throwsAsync(collect(decompress('zstd', [packed.subarray(0, packed.length - 100)])), { code: 'E_COMPRESSION' } as never);
  const bad = Buffer.from(packed); bad[20] ^= 0xff; bad[30] ^= 0xff;
  await t.throwsAsync(collect(decompress('zstd', [bad])), { code: 'E_COMPRESSION' } as never);
  await t.throwsAsync(collect(decompress('xz', [Buffer.from('not xz at all')])), { code: 'E_COMPRESSION' } as never);
  t.throws(() => decompress('lz4', []), { message: /unsupported compression method 'lz4'/ });
});

test('a failing source surfaces as itself through a decompressor', async (t) => {
  const packed = await collect(compress('xz', [randomBytes(50_000)]));
  async function* failing() { yield packed.subarray(0, 1000); throw new Error('network went away'); }
  await t.throwsAsync(collect(decompress('xz', failing())), { message: /network went away/ });
});
