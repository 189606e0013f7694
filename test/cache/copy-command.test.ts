// `tsix copy` between tsix stores, file:// and http:// caches, with real Nix reading what tsix
// wrote; `tsix store sign` / `verify-sigs` semantics.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { requireNix } from '../helpers/nix.js';
import { tsix } from '../helpers/cli.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import { formatHash } from '../../store/nix/hash.js';
import { generateKeyPair } from '../../store/cache/signing.js';
import { serveBinaryCache } from '../../daemon/http/binary-cache-server.js';
import { runSign, runVerify } from '../../daemon/cli/sign-commands.js';
import { progressDisplay } from '../../daemon/cli/copy-command.js';
import type { CliContext } from '../../daemon/cli/command.js';
import { nixDelete, nixHas, nixPathInfo, run, scratch, tsixOpaquePath, tsixTextPath, type Scratch } from './fixtures.js';
import { randomBytes } from 'node:crypto';

requireNix();

let s: Scratch;
const key = generateKeyPair('copy-test-key');
let keyFile: string;
const nixPaths: string[] = [];

test.before(async () => {
  s = await scratch();
  keyFile = join(s.dir, 'key.sec');
  await writeFile(keyFile, key.secret);
});
test.after.always(async () => {
  await nixDelete(nixPaths);
  await s?.cleanup();
});

async function levelStore(name: string): Promise<{ url: string; open: () => Promise<Store> }> {
  const url = `level://${join(s.dir, name)}`;
  return { url, open: () => openStore(url, { direct: true }) };
}

/** A closure (text ← mid ← top) in a fresh level store, which is closed again. */
async function seeded(name: string): Promise<{ url: string; infos: PathInfo[] }> {
  const st = await levelStore(name);
  const store = await st.open();
  try {
    const r = randomBytes(5).toString('hex');
    const a = await tsixTextPath(store, s.dir, `c-text-${r}`, `text ${r}`);
    const b = await tsixOpaquePath(store, s.dir, `c-mid-${r}`, `mid ${a.path} ${randomBytes(100_000).toString('hex')}`, [a.path]);
    const c = await tsixOpaquePath(store, s.dir, `c-top-${r}`, `top ${b.path}`, [b.path]);
    return { url: st.url, infos: [c, b, a] };
  } finally { await store.close(); }
}

async function ok(args: string[]): Promise<string> {
  const r = await tsix(args);
  if (r.code !== 0) throw new Error(`tsix ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stderr;
}

test('store → file:// cache (signed, xz) is read by Nix; file:// → store checks signatures; re-copy skips', async (t) => {
  const src = await seeded('src1');
  const [top, mid, text] = src.infos as [PathInfo, PathInfo, PathInfo];
  const cache = `file://${join(s.dir, 'cache1')}`;
  const log = await ok(['--store', src.url, 'copy', '--to', `${cache}?secret-key=${keyFile}`, top.path]);
  t.regex(log, /copying 3 paths/);
  const nixView = await nixPathInfo([top.path, mid.path, text.path], cache);
  for (const i of [top, mid, text]) {
    t.is(nixView.find((n) => n.path === i.path)?.narHash, formatHash({ algo: 'sha256', digest: i.narHash }, 'sri'));
  }
  nixPaths.push(text.path, mid.path, top.path);
  await run('nix-store', ['-r', top.path, '--option', 'substituters', cache, '--option', 'trusted-public-keys', key.public]);
  await run('nix-store', ['--verify-path', mid.path]);
  await nixDelete([top.path, mid.path, text.path]);

  const dst = await levelStore('dst1');
  const refused = await tsix(['--store', dst.url, 'copy', '--from', cache, top.path]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /cannot accept '.*-c-(mid|top)-.*': .*untrusted keys \('copy-test-key'\)/);
  await ok(['--store', dst.url, 'copy', '--from', cache, '--trusted-public-key', key.public, top.path]);
  const again = await ok(['--store', dst.url, 'copy', '--from', cache, '--trusted-public-key', key.public, top.path]);
  t.notRegex(again, /copying path/);
  const store = await dst.open();
  try {
    for (const i of src.infos) {
      const got = await store.pathInfos.get(i.path.slice(11, 43));
      t.true(got!.narHash.equals(i.narHash));
      t.deepEqual(got!.references, i.references);
    }
  } finally { await store.close(); }
});

test('store → store and store → http:// (upload to the tsix server), zstd', async (t) => {
  const src = await seeded('src2');
  const top = src.infos[0]!;
  const dst = await levelStore('dst2');
  await ok(['--store', src.url, 'copy', '--to', dst.url, top.path]);
  const served = await openStore('memory://');
  const srv = await serveBinaryCache(served, { listen: '127.0.0.1:0', allowLoopbackUpload: true });
  try {
    await ok(['--store', dst.url, 'copy', '--to', srv.url, '--compression', 'zstd', top.path]);
    for (const i of src.infos) t.truthy(await served.pathInfos.get(i.path.slice(11, 43)), i.path);
  } finally { await srv.close(); await served.close(); }
});

test('copy errors: unknown path, bad usage', async (t) => {
  const src = await seeded('src3');
  const r = await tsix(['--store', src.url, 'copy', '--to', `file://${join(s.dir, 'c3')}`, `/nix/store/${'2'.repeat(32)}-nope`]);
  t.is(r.code, 1);
  t.regex(r.stderr, /path '\/nix\/store\/2{32}-nope' in .* does not exist/);
  t.is((await tsix(['copy', '/nix/store/x'])).code, 2);
  t.false(await nixHas(`/nix/store/${'2'.repeat(32)}-nope`));
});

function ctxFor(storeUrl: string): { ctx: CliContext; err: () => string } {
  const errStream = new PassThrough();
  let err = '';
  errStream.on('data', (d) => { err += d; });
  const ctx = { storeUrl, verbose: false, stdout: new PassThrough() as unknown as NodeJS.WriteStream, stderr: errStream as unknown as NodeJS.WriteStream };
  return { ctx, err: () => err };
}

test('store sign and verify-sigs follow nix store sign / nix store verify', async (t) => {
  const src = await seeded('src4');
  const top = src.infos[0]!;
  const c1 = ctxFor(src.url);
  t.is(await runVerify(['--trusted-public-key', key.public, '-r', top.path], c1.ctx), 2, 'unsigned input-addressed paths are untrusted');
  t.regex(c1.err(), /path '.*-c-top-.*' is untrusted/);
  t.regex(c1.err(), /3 paths checked, 2 untrusted, 0 corrupted, 0 failed/);
  const c2 = ctxFor(src.url);
  t.is(await runSign(['--key-file', keyFile, '-r', top.path], c2.ctx), 0);
  t.regex(c2.err(), /added 3 signatures/);
  t.is(await runVerify(['--trusted-public-key', key.public, '-r', top.path], ctxFor(src.url).ctx), 0);
  t.is(await runVerify(['--trusted-public-key', generateKeyPair('copy-test-key').public, top.path], ctxFor(src.url).ctx), 2, 'same name, other key');
  t.is(await runVerify(['--no-trust', `/nix/store/${'3'.repeat(32)}-x`], ctxFor(src.url).ctx), 4);
  // A PathInfo whose recorded hash does not match its contents is "modified".
  const st = await openStore(src.url, { direct: true });
  try {
    const info = (await st.pathInfos.get(top.path.slice(11, 43)))!;
    await st.pathInfos.put({ ...info, narHash: Buffer.alloc(32, 9) });
  } finally { await st.close(); }
  const c3 = ctxFor(src.url);
  t.is(await runVerify(['--no-trust', top.path], c3.ctx), 1);
  t.regex(c3.err(), /was modified! expected hash 'sha256:/);
});

test('progress: without a TTY, copying N paths... comes first even when transfers start before the plan ends; on a TTY the total shows as unknown until then', (t) => {
  const collect = (tty: boolean) => {
    const out = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
    out.isTTY = tty;
    out.columns = 200;
    let text = '';
    out.on('data', (d: Buffer) => { text += d.toString(); });
    return { out: out as unknown as NodeJS.WriteStream, text: () => text };
  };
  const a = '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a';
  const b = '/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b';
  const plain = collect(false);
  const show = progressDisplay(plain.out, 'dest');
  show({ kind: 'start', path: a, from: 'src' });
  show({ kind: 'planned', paths: [a, b], narBytes: 10 });
  show({ kind: 'start', path: b, from: 'src' });
  show({ kind: 'finished' });
  t.is(plain.text(), `copying 2 paths...\ncopying path '${a}' from 'src'...\ncopying path '${b}' from 'src'...\n`);
  const tty = collect(true);
  const draw = progressDisplay(tty.out, 'dest');
  draw({ kind: 'start', path: a, from: 'src' });
  t.regex(tty.text(), /\[0\/\? paths, 0\.0 MiB to dest, still looking up the closure\]/);
  draw({ kind: 'planned', paths: [a, b], narBytes: 10 });
  draw({ kind: 'done', path: a });
  draw({ kind: 'finished' });
  t.regex(tty.text(), /\[1\/2 paths, 0\.0\/0\.0 MiB to dest\]/);
});
