// Store path computation and validation, differential against nix-store and nix-instantiate.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { contentAddressedPath, formatContentAddress, parseContentAddress } from '../../store/nix/content-address.js';
import { formatHash, HASH_ALGOS, HASH_SIZES, hashStream, sha256 } from '../../store/nix/hash.js';
import { dumpPathNar } from '../../store/nix/nar-from-fs.js';
import {
  checkStorePathName, makeFixedOutputPath, makeOutputPath, makeSourcePath, makeStorePath, makeTextPath,
  parseStorePath, splitStorePath, type FileIngestionMethod,
} from '../../store/nix/store-path.js';
import { nix, nixDelete, nixOut, tempDir } from './nix-oracle.js';

test('makeFixedOutputPath equals nix-store --print-fixed-path (flat and recursive, every algorithm)', async (t) => {
  for (const algo of HASH_ALGOS) {
    for (const method of ['flat', 'recursive'] as FileIngestionMethod[]) {
      const hash = { algo, digest: randomBytes(HASH_SIZES[algo]) };
      const name = `n-${algo}-${method}.tar.gz`;
      const args = ['--print-fixed-path', ...(method === 'recursive' ? ['--recursive'] : []), algo, formatHash(hash, 'base32'), name];
      t.is(makeFixedOutputPath(method, hash, name), await nixOut('nix-store', args), `${method} ${algo}`);
    }
  }
});

test('source and fixed paths equal nix-store --add / --add-fixed, and ca equals nix path-info', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const dir = join(tmp.dir, `src-${randomBytes(4).toString('hex')}`);
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'sub/f'), randomBytes(1000));
  const file = join(tmp.dir, `file-${randomBytes(4).toString('hex')}.txt`);
  await writeFile(file, randomBytes(1000));
  const name = dir.split('/').pop()!;
  const narHash = (await hashStream('sha256', dumpPathNar(dir))).hash;

  const addedPaths: string[] = [];
  t.teardown(() => nixDelete(addedPaths));
  const added = await nixOut('nix-store', ['--add', dir]);
  addedPaths.push(added);
  t.is(makeSourcePath(name, narHash.digest), added);
  t.is(makeFixedOutputPath('recursive', narHash, name), added);
  t.is(await nixOut('nix-store', ['--add-fixed', '--recursive', 'sha256', dir]), added);

  for (const algo of ['sha1', 'sha512'] as const) {
    const h = (await hashStream(algo, dumpPathNar(dir))).hash;
    const p = await nixOut('nix-store', ['--add-fixed', '--recursive', algo, dir]);
    addedPaths.push(p);
    t.is(makeFixedOutputPath('recursive', h, name), p);
    const info = JSON.parse(await nixOut('nix', ['path-info', '--json', p])) as { ca: string }[];
    t.is(formatContentAddress({ type: 'fixed', method: 'recursive', hash: h }), info[0]!.ca);
    t.deepEqual(parseContentAddress(info[0]!.ca), { type: 'fixed', method: 'recursive', hash: h });
    t.is(contentAddressedPath(parseContentAddress(info[0]!.ca), name), p);
  }
  const flat = (await hashStream('sha256', dumpPathNar(file))).hash; // not the flat hash: the NAR hash
  const { hashFile } = await import('../../store/nix/hash.js');
  const fh = await hashFile('sha256', file);
  const fp = await nixOut('nix-store', ['--add-fixed', 'sha256', file]);
  addedPaths.push(fp);
  t.is(makeFixedOutputPath('flat', fh, file.split('/').pop()!), fp);
  t.not(flat.digest.toString('hex'), fh.digest.toString('hex'));
  const info = JSON.parse(await nixOut('nix', ['path-info', '--json', fp])) as { ca: string }[];
  t.is(formatContentAddress({ type: 'fixed', method: 'flat', hash: fh }), info[0]!.ca);
});

test('makeTextPath equals builtins.toFile (with and without references)', async (t) => {
  const tag = randomBytes(6).toString('hex');
  const inner = `inner ${tag}`;
  const expr = `let a = builtins.toFile "a-${tag}" "${inner}"; in [ a (builtins.toFile "b" "uses \${a} here") ]`;
  const out = await nixOut('nix-instantiate', ['--eval', '--strict', '--json', '-E', expr]);
  const [a, b] = JSON.parse(out) as [string, string];
  t.is(makeTextPath(`a-${tag}`, sha256(inner)), a);
  t.is(makeTextPath('b', sha256(`uses ${a} here`), [a]), b);
  t.is(contentAddressedPath(parseContentAddress(`text:sha256:${formatHash({ algo: 'sha256', digest: sha256(inner) }, 'base32')}`), `a-${tag}`), a);
});

test('makeOutputPath is the output:<id> fingerprint with Nix output naming', (t) => {
  const h = randomBytes(32).toString('hex');
  t.is(makeOutputPath('out', h, 'hello-1.0'), makeStorePath('output:out', h, 'hello-1.0'));
  t.is(makeOutputPath('dev', h, 'hello-1.0'), makeStorePath('output:dev', h, 'hello-1.0-dev'));
  t.regex(makeOutputPath('dev', h, 'hello-1.0'), /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-hello-1\.0-dev$/);
});

test('store path names are accepted and refused exactly as Nix 2.8 does', async (t) => {
  const names = ['ok', '.dot-first', '..', 'a+b-c.d_e?f=g', 'UPPER', '', 'has space', 'slash/x', 'ünï', 'x'.repeat(211), 'x'.repeat(212), 'tab\t', 'a@b', 'a:b'];
  const h = formatHash({ algo: 'sha256', digest: randomBytes(32) }, 'base32');
  for (const name of names) {
    const r = await nix('nix-store', ['--print-fixed-path', 'sha256', h, name], { allowFail: true });
    let ours = true;
    try { checkStorePathName(name); } catch (e) { ours = false; t.is((e as { code?: string }).code, 'E_INVALID_INPUT'); }
    t.is(ours, r.code === 0, `name ${JSON.stringify(name)}: nix ${r.code === 0 ? 'accepts' : 'refuses'} it`);
    if (ours) t.is(makeFixedOutputPath('flat', { algo: 'sha256', digest: Buffer.from(await nixOut('nix', ['hash', 'to-base16', `sha256:${h}`]), 'hex') }, name), r.stdout.trim());
  }
});

test('parseStorePath validates and names the bad part', (t) => {
  const hp = '0123456789abcdfghijklmnpqrsvwxyz';
  t.deepEqual(parseStorePath(`/nix/store/${hp}-foo-1.0`), { hashPart: hp, name: 'foo-1.0' });
  t.deepEqual(splitStorePath(`/nix/store/${hp}-foo/bin/x`), { storePath: { hashPart: hp, name: 'foo' }, rest: '/bin/x' });
  const cases: [string, RegExp][] = [
    [`/nix/store/${hp.slice(0, 31)}e-foo`, /illegal base-32 character 'e' at position 31/],
    [`/nix/store/${hp}_foo`, /no '-' after its hash part/],
    [`/nix/store/${hp}-`, /empty name/],
    [`/nix/store/${hp}-a b`, /illegal character ' ' at position 1/],
    [`/nix/store/short-foo`, /too short/],
    [`/tmp/${hp}-foo`, /not in the Nix store/],
    [`/nix/store/${hp}-foo/bar`, /inside one/],
    [`/nix/store/${hp}-${'x'.repeat(212)}`, /longer than 211/],
  ];
  for (const [p, re] of cases) {
    const e = t.throws(() => parseStorePath(p));
    t.regex(e!.message, re, p);
    t.is((e as { code?: string }).code, 'E_INVALID_INPUT');
  }
  t.throws(() => parseContentAddress('text:sha1:' + '0'.repeat(40)), { message: /should use sha256/ });
  t.throws(() => parseContentAddress('fixed:r:sha256'), { message: /<algo>:<hash>/ });
  t.throws(() => parseContentAddress('blob:sha256:00'), { message: /prefix 'blob'/ });
  t.throws(() => makeFixedOutputPath('flat', { algo: 'sha256', digest: randomBytes(32) }, 'x', [`/nix/store/${hp}-foo`]), { message: /cannot have references/ });
});
