// nixbase32 and Nix hash parsing/printing, differential against `nix hash to-*` and nix-hash.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeBase32, encodeBase32 } from '../../store/nix/base32.js';
import { compressHash, formatHash, HASH_ALGOS, HASH_SIZES, hashFile, parseHash, parseHashPrefixed, parseHashSRI, type HashFormat, type NixHash } from '../../store/nix/hash.js';
import { nix, nixOut, tempDir } from './nix-oracle.js';

// Random digests plus the edge cases all-zero and all-ones, for every algorithm.
function samples(): NixHash[] {
  const out: NixHash[] = [];
  for (const algo of HASH_ALGOS) {
    const n = HASH_SIZES[algo];
    out.push({ algo, digest: Buffer.alloc(n) }, { algo, digest: Buffer.alloc(n, 0xff) });
    for (let i = 0; i < 6; i++) out.push({ algo, digest: randomBytes(n) });
  }
  return out;
}

const FORMATS: HashFormat[] = ['base16', 'base32', 'base64', 'sri'];
const NIX_CMD: Record<HashFormat, string> = { base16: 'to-base16', base32: 'to-base32', base64: 'to-base64', sri: 'to-sri' };

test('formatHash equals nix hash to-base16/32/64/sri for every algorithm', async (t) => {
  const hs = samples();
  for (const fmt of FORMATS) {
    // Nix reads the SRI forms (they name their algorithm).
    const got = (await nixOut('nix', ['hash', NIX_CMD[fmt], ...hs.map((h) => formatHash(h, 'sri'))])).split('\n');
    t.deepEqual(hs.map((h) => formatHash(h, fmt)), got, fmt);
  }
});

test('parseHash reads every form Nix prints back to the same digest', (t) => {
  for (const h of samples()) {
    for (const fmt of FORMATS) {
      const bare = formatHash(h, fmt, false);
      if (fmt !== 'sri') {
        t.deepEqual(parseHash(bare, h.algo), h, `${fmt} bare`);
        t.deepEqual(parseHash(`${h.algo}:${bare}`), h, `${fmt} prefixed`);
        t.deepEqual(parseHashPrefixed(`${h.algo}:${bare}`), h);
      }
    }
    t.deepEqual(parseHash(formatHash(h, 'sri')), h, 'sri');
    t.deepEqual(parseHashSRI(formatHash(h, 'sri')), h);
    t.deepEqual(parseHash(formatHash(h, 'base16').toUpperCase(), h.algo), h, 'upper-case base16');
  }
});

test('nixbase32 round trips at every length and matches Nix on store-path-sized hashes', async (t) => {
  for (let n = 0; n <= 70; n++) {
    const b = randomBytes(n);
    t.deepEqual(decodeBase32(encodeBase32(b)), b);
  }
  // sha1 is 20 bytes: nixbase32 of a store path hash part.
  const sha1s = Array.from({ length: 10 }, () => randomBytes(20).toString('hex'));
  const got = (await nixOut('nix', ['hash', 'to-base32', '--type', 'sha1', ...sha1s])).split('\n');
  t.deepEqual(sha1s.map((x) => encodeBase32(Buffer.from(x, 'hex'))), got);
});

test('malformed hashes are rejected where Nix rejects them, naming the problem', async (t) => {
  const good = formatHash({ algo: 'sha256', digest: randomBytes(32) }, 'base32');
  const bad: [string, RegExp][] = [
    [`sha256:${good.slice(0, -1)}e`, /invalid character 'e' at position 51/],
    [`sha256:${good.slice(1)}`, /wrong length/],
    ['sha256:' + 'g'.repeat(64), /invalid base-16 hash.*'g' at position 0/],
    ['sha256-' + '!'.repeat(44), /invalid character '!'/],
    ['sha256-AAAA', /invalid SRI hash/],
    ['sha257:' + 'a'.repeat(64), /unknown hash algorithm 'sha257'/],
    [good, /does not include a type/],
    // 'z' (31) in the first position sets bits beyond 256.
    ['sha256:z' + good.slice(1), /non-zero bits/],
  ];
  for (const [s, re] of bad) {
    const e = t.throws(() => parseHash(s));
    t.is((e as { code?: string }).code, 'E_INVALID_INPUT');
    t.regex(e!.message, re, s);
    const r = await nix('nix', ['hash', 'to-base16', s], { allowFail: true });
    t.not(r.code, 0, `nix accepted ${s}`);
  }
  t.throws(() => parseHash(`sha256:${good}`, 'sha1'), { message: /should have type 'sha1'/ });
  t.throws(() => decodeBase32('0e'), { message: /invalid character 'e' at position 1/ });
});

test('compressHash equals nix-hash --truncate; hashFile equals nix hash file', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const f = join(tmp.dir, 'f');
  await writeFile(f, randomBytes(100_000));
  const digest = createHash('sha256').update(await (await import('node:fs/promises')).readFile(f)).digest();
  const nixTrunc = await nixOut('nix-hash', ['--flat', '--truncate', '--type', 'sha256', '--base32', f]);
  t.is(encodeBase32(compressHash(digest, 20)), nixTrunc);
  for (const algo of HASH_ALGOS) {
    t.is(formatHash(await hashFile(algo, f), 'sri'), await nixOut('nix', ['hash', 'file', '--type', algo, f]));
  }
});

test('nix-hash --to-base32/--to-base16 agree with encodeBase32/decodeBase32', async (t) => {
  const hexes = Array.from({ length: 4 }, () => randomBytes(32).toString('hex'));
  const b32 = (await nixOut('nix-hash', ['--type', 'sha256', '--to-base32', ...hexes])).split('\n');
  t.deepEqual(hexes.map((h) => encodeBase32(Buffer.from(h, 'hex'))), b32);
  const back = (await nixOut('nix-hash', ['--type', 'sha256', '--to-base16', ...b32])).split('\n');
  t.deepEqual(b32.map((s) => decodeBase32(s).toString('hex')), back);
  t.deepEqual(back, hexes);
});
