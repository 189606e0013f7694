// The tsix binary cache server against real Nix 2.8 on the other side: `nix-store -r` fetches
// closures from it (uncompressed and zstd), `nix copy --to http://…` uploads into it, and tsix's
// own HTTP substituter reads it and refuses a server that cuts a download short.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { requireNix, NIX_ENV } from '../helpers/nix.js';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import { formatHash } from '../../store/nix/hash.js';
import { serveBinaryCache, type BinaryCacheServer, type BinaryCacheServerOptions } from '../../daemon/http/binary-cache-server.js';
import { generateKeyPair, parsePublicKey, parseSecretKey } from '../../store/cache/signing.js';
import { HttpBinaryCache } from '../../store/cache/http-cache.js';
import { substitute } from '../../store/cache/substitute.js';
import { parseNarInfo } from '../../store/cache/narinfo.js';
import { buildNixClosure, narProxy, nixDelete, nixHas, nixKeyPair, nixPathInfo, run, runFails, scratch, tsixOpaquePath, tsixTextPath, type Scratch } from './fixtures.js';
import { createHash, randomBytes } from 'node:crypto';

requireNix();

let s: Scratch;
const keys = generateKeyPair('tsix-test-1');
const nixPaths: string[] = [];

test.before(async () => { s = await scratch(); });
test.after.always(async () => {
  await nixDelete(nixPaths);
  await s?.cleanup();
});

async function serving<T>(opts: Omit<BinaryCacheServerOptions, 'listen'>, f: (store: Store, srv: BinaryCacheServer) => Promise<T>): Promise<T> {
  const store = await openStore('memory://');
  const srv = await serveBinaryCache(store, { listen: '127.0.0.1:0', ...opts });
  try { return await f(store, srv); } finally { await srv.close(); await store.close(); }
}

/** text (CA) ← mid (signed only) ← top, with random contents so Nix has none of them; mid's NAR
 *  is over 1 MiB (the server streams it) and the others under (the server sends them whole). */
async function tsixClosure(store: Store): Promise<PathInfo[]> {
  const r = randomBytes(6).toString('hex');
  const a = await tsixTextPath(store, s.dir, `t-text-${r}`, `text ${r}\n`);
  const b = await tsixOpaquePath(store, s.dir, `t-mid-${r}`, `mid ${r} ${a.path}\n${randomBytes(1_200_000).toString('base64')}`, [a.path]);
  const c = await tsixOpaquePath(store, s.dir, `t-top-${r}`, `top ${r} ${b.path}\n`, [b.path]);
  return [c, b, a];
}

function nixFrom(url: string, pub: string): string[] {
  return ['--option', 'substituters', url, '--option', 'trusted-public-keys', pub, '--option', 'narinfo-cache-negative-ttl', '0'];
}

for (const compression of ['none', 'zstd'] as const) {
  test(`nix-store -r fetches a closure from the tsix server (${compression}) and --verify-path passes`, async (t) => {
    await serving({ secretKey: parseSecretKey(keys.secret), compression }, async (store, srv) => {
      const [top, mid, text] = await tsixClosure(store);
      nixPaths.push(text!.path, mid!.path, top!.path);
      await run('nix-store', ['-r', top!.path, ...nixFrom(srv.url, keys.public)]);
      await run('nix-store', ['--verify-path', top!.path]);
      await run('nix-store', ['--verify-path', mid!.path]);
      const closure = (await run('nix-store', ['-qR', top!.path])).trim().split('\n').sort();
      t.deepEqual(closure, [top!.path, mid!.path, text!.path].sort());
      const ni = await nixPathInfo([mid!.path]);
      t.is(ni[0]!.narHash, formatHash({ algo: 'sha256', digest: mid!.narHash }, 'sri'));
      t.deepEqual(ni[0]!.references, [text!.path]);
      await nixDelete([top!.path, mid!.path, text!.path]);
    });
  });
}

test('Nix refuses what the tsix server serves when signed by a key it does not trust', async (t) => {
  await serving({ secretKey: parseSecretKey(keys.secret) }, async (store, srv) => {
    const [top] = await tsixClosure(store);
    const other = generateKeyPair('other');
    const err = await runFails('nix-store', ['-r', top!.path, ...nixFrom(srv.url, other.public)]);
    t.regex(err, /don't know how to build|cannot|substitute|not valid|signature/i);
    t.false(await nixHas(top!.path));
  });
});

test('nix copy --to http:// uploads into the tsix server, which serves the paths back', async (t) => {
  const closure = await buildNixClosure(s.dir, 100_000);
  nixPaths.push(...closure.cleanup);
  const nixKeys = await nixKeyPair(s.dir, 'nix-upload-key');
  await run('nix', ['store', 'sign', '--key-file', nixKeys.secretFile, '-r', closure.top]);
  const before = await nixPathInfo(closure.all);
  await serving({ allowLoopbackUpload: true, uploadTrust: { keys: new Map([['nix-upload-key', parsePublicKey(nixKeys.public)]]), requireSigs: true } }, async (store, srv) => {
    await run('nix', ['copy', '--to', srv.url, closure.top]);
    for (const n of before) {
      const mine = await store.pathInfos.get(n.path.slice(11, 43));
      t.truthy(mine, `${n.path} uploaded`);
      t.is(formatHash({ algo: 'sha256', digest: mine!.narHash }, 'sri'), n.narHash);
      t.deepEqual(mine!.references, [...n.references].sort());
      t.deepEqual(mine!.signatures, [...(n.signatures ?? [])].sort());
    }
    await nixDelete([closure.top, closure.dep, closure.text]);
    t.false(await nixHas(closure.top));
    await run('nix-store', ['-r', closure.top, ...nixFrom(srv.url, nixKeys.public)]);
    await run('nix-store', ['--verify-path', closure.top]);
    await run('nix-store', ['--verify-path', closure.dep]);
  });
});

test('uploads are refused unless enabled, and with a wrong token', async (t) => {
  const closure = await buildNixClosure(s.dir);
  nixPaths.push(...closure.cleanup);
  await serving({}, async (store, srv) => {
    const err = await runFails('nix', ['copy', '--to', srv.url, closure.top]);
    t.regex(err, /403|disabled/);
    t.is(await store.pathInfos.get(closure.top.slice(11, 43)), null);
  });
  await serving({ uploadToken: 'sekrit' }, async (store, srv) => {
    const err = await runFails('nix', ['copy', '--to', srv.url.replace('http://', 'http://u:wrong@'), closure.top]);
    t.regex(err, /40[13]/);
    t.is(await store.pathInfos.get(closure.top.slice(11, 43)), null);
  });
});

test('an upload whose narinfo lies about the NAR is refused', async (t) => {
  await serving({ allowLoopbackUpload: true }, async (store, srv) => {
    const put = (path: string, body: Buffer) => new Promise<number>((resolve, reject) => {
      const r = http.request(`${srv.url}/${path}`, { method: 'PUT' }, (res) => { res.resume(); resolve(res.statusCode!); });
      r.on('error', reject);
      r.end(body);
    });
    const { execFileSync } = await import('node:child_process');
    const dir = join(s.dir, `up-${randomBytes(4).toString('hex')}`);
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('sh', ['-c', `echo hello > ${dir}/f`]);
    const narBytes = execFileSync('nix-store', ['--dump', dir], { env: NIX_ENV });
    t.is(await put('nar/x.nar', narBytes), 200);
    const path = `/nix/store/${'1'.repeat(32)}-lie`;
    const lie = `StorePath: ${path}\nURL: nar/x.nar\nCompression: none\nNarHash: sha256:${'0'.repeat(52)}\nNarSize: ${narBytes.length}\nReferences: \n`;
    t.is(await put(`${'1'.repeat(32)}.narinfo`, Buffer.from(lie)), 400);
    t.is(await store.pathInfos.get('1'.repeat(32)), null);
  });
});

test('the tsix HTTP substituter reads the tsix server; a cut-off download is refused', async (t) => {
  await serving({ secretKey: parseSecretKey(keys.secret) }, async (store, srv) => {
    const [top, mid] = await tsixClosure(store);
    const dest = await openStore('memory://');
    try {
      const info = await substitute(dest, [new HttpBinaryCache(srv.url)], top!.path, [parsePublicKey(keys.public)]);
      t.true(info.narHash.equals(top!.narHash));
      t.truthy(await dest.pathInfos.get(mid!.path.slice(11, 43)));
    } finally { await dest.close(); }

    // A proxy that forwards everything but cuts NARs off halfway (keeping the full Content-Length).
    const proxy = narProxy(srv.url);
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const dest2 = await openStore('memory://');
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const err = await t.throwsAsync(substitute(dest2, [new HttpBinaryCache(url)], top!.path, [parsePublicKey(keys.public)]));
      t.regex(err!.message, /cut off|NAR|aborted|premature/i);
      t.is(await dest2.pathInfos.get(top!.path.slice(11, 43)), null);
    } finally {
      await dest2.close();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });
});

test('narinfo served by tsix parses as Nix writes it and carries the server signature', async (t) => {
  await serving({ secretKey: parseSecretKey(keys.secret) }, async (store, srv) => {
    const [top] = await tsixClosure(store);
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`${srv.url}/${top!.path.slice(11, 43)}.narinfo`, (res) => { let d = ''; res.on('data', (c) => d += c); res.on('end', () => resolve(d)); }).on('error', reject);
    });
    const ni = parseNarInfo(body, 'served');
    t.is(ni.storePath, top!.path);
    t.true(ni.sigs.some((x) => x.startsWith('tsix-test-1:')));
    // nix path-info against the server verifies the signature with the trusted key.
    const out = await run('nix', ['path-info', '--store', srv.url, '--sigs', top!.path]);
    t.regex(out, /tsix-test-1:/);
  });
});

test('the tsix HTTP substituter follows redirects (as CDNs in front of caches send)', async (t) => {
  await serving({ secretKey: parseSecretKey(keys.secret), compression: 'zstd' }, async (store, srv) => {
    const [top] = await tsixClosure(store);
    const redirector = http.createServer((req, res) => { res.writeHead(302, { location: `${srv.url}${req.url}` }); res.end(); });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const dest = await openStore('memory://');
    try {
      const url = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
      const info = await substitute(dest, [new HttpBinaryCache(url)], top!.path, [parsePublicKey(keys.public)]);
      t.true(info.narHash.equals(top!.narHash));
    } finally {
      await dest.close();
      redirector.closeAllConnections();
      await new Promise((r) => redirector.close(r));
    }
  });
});

test('a client that hangs up mid-NAR does not disturb the server', async (t) => {
  await serving({}, async (store, srv) => {
    const [, mid] = await tsixClosure(store);
    const ni = parseNarInfo(await new Promise<string>((resolve, reject) => {
      http.get(`${srv.url}/${mid!.path.slice(11, 43)}.narinfo`, (res) => { let d = ''; res.on('data', (c) => d += c); res.on('end', () => resolve(d)); }).on('error', reject);
    }), 'served');
    await new Promise<void>((resolve) => {
      const req = http.get(`${srv.url}/${ni.url}`, (res) => { res.once('data', () => { req.destroy(); resolve(); }); });
      req.on('error', () => resolve());
    });
    const dest = await openStore('memory://');
    try {
      const info = await substitute(dest, [new HttpBinaryCache(srv.url)], mid!.path, [], { requireSigs: false });
      t.true(info.narHash.equals(mid!.narHash));
    } finally { await dest.close(); }
  });
});

test('uncompressed NARs honour Range requests (Nix resumes interrupted downloads with them)', async (t) => {
  await serving({}, async (store, srv) => {
    const [, mid] = await tsixClosure(store);
    const get = (path: string, headers: Record<string, string> = {}) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http.get(`${srv.url}/${path}`, { headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      }).on('error', reject);
    });
    const ni = parseNarInfo((await get(`${mid!.path.slice(11, 43)}.narinfo`)).body.toString(), 'served');
    const whole = await get(ni.url);
    t.is(whole.status, 200);
    t.is(whole.body.length, mid!.narSize);
    const part = await get(ni.url, { range: 'bytes=1000-' });
    t.is(part.status, 206);
    t.is(part.headers['content-range'], `bytes 1000-${mid!.narSize - 1}/${mid!.narSize}`);
    t.true(part.body.equals(whole.body.subarray(1000)));
    const mid2 = await get(ni.url, { range: 'bytes=10-99' });
    t.true(mid2.body.equals(whole.body.subarray(10, 100)));
    t.is((await get(ni.url, { range: `bytes=${mid!.narSize}-` })).status, 416);
  });
});

test('hostile or broken HTTP caches: wrong narinfo, server errors, garbage', async (t) => {
  await serving({ secretKey: parseSecretKey(keys.secret) }, async (store, srv) => {
    const [top, mid] = await tsixClosure(store);
    let mode = 'swap';
    const evil = http.createServer((req, res) => {
      if (mode === '500') { res.writeHead(500); res.end('boom'); return; }
      if (mode === 'garbage' && req.url!.endsWith('.narinfo')) { res.writeHead(200); res.end('this is not a narinfo'); return; }
      // 'swap': answer every narinfo query with mid's narinfo.
      const url = req.url!.endsWith('.narinfo') ? `/${mid!.path.slice(11, 43)}.narinfo` : req.url!;
      http.get(`${srv.url}${url}`, (up) => { res.writeHead(up.statusCode!, up.headers); up.pipe(res); });
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
    try {
      for (const [m, pattern] of [['swap', /answered the query for '.*' with the narinfo of '.*-t-mid-/], ['500', /HTTP 500/], ['garbage', /corrupt/]] as const) {
        mode = m;
        const dest = await openStore('memory://');
        try {
          const err = await t.throwsAsync(substitute(dest, [new HttpBinaryCache(url)], top!.path, [parsePublicKey(keys.public)]));
          t.regex(err!.message, pattern, m);
          t.is(await dest.pathInfos.get(top!.path.slice(11, 43)), null);
        } finally { await dest.close(); }
      }
    } finally {
      evil.closeAllConnections();
      await new Promise((r) => evil.close(r));
    }
  });
});

test('a small NAR that cannot be rendered as its PathInfo says is refused with an error status, not cut off', async (t) => {
  await serving({}, async (store, srv) => {
    const good = await tsixOpaquePath(store, s.dir, `t-lying-${randomBytes(4).toString('hex')}`, 'twelve bytes');
    // The same blob, but a file node claiming more bytes than the blob holds.
    const node = { ...good.node, size: (good.node as { size: number }).size + 5 } as PathInfo['node'];
    const lying: PathInfo = { ...good, path: good.path.replace(/-t-lying-/, '-t-lyinG-'), node, narSize: good.narSize + 8 };
    await store.pathInfos.put(lying);
    const narinfo = await get(`${srv.url}/${lying.path.slice(11, 43)}.narinfo`);
    t.is(narinfo.status, 200);
    const url = /^URL: (.*)$/m.exec(narinfo.body)![1]!;
    const nar = await get(`${srv.url}/${url}`);
    t.is(nar.status, 500, nar.body);
    t.regex(nar.body, /size|bytes/, 'the error is named');
  });
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('small NARs fetched concurrently over many connections each arrive whole and unmixed', async (t) => {
  await serving({ secretKey: parseSecretKey(keys.secret) }, async (store, srv) => {
    const paths: PathInfo[] = [];
    // Sizes from 1 KB to the whole-NAR limit, each path with its own random contents.
    for (let i = 0; i < 24; i++) paths.push(await tsixOpaquePath(store, s.dir, `t-many-${i}`, randomBytes(1000 + i * 37_000)));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
    const get = (url: string) => new Promise<Buffer>((resolve, reject) => {
      http.get(url, { agent }, (res) => {
        const b: Buffer[] = [];
        // Read late, so that several responses are in flight while others are rendered.
        res.pause();
        setTimeout(() => res.resume(), 40);
        res.on('data', (c: Buffer) => b.push(c));
        res.on('end', () => resolve(Buffer.concat(b)));
      }).on('error', reject);
    });
    try {
      for (let round = 0; round < 3; round++) {
        const bodies = await Promise.all(paths.map(async (p) => {
          const ni = parseNarInfo((await get(`${srv.url}/${p.path.slice(11, 43)}.narinfo`)).toString('utf8'), 'served');
          return get(`${srv.url}/${ni.url}`);
        }));
        bodies.forEach((b, i) => {
          t.is(b.length, paths[i]!.narSize);
          t.true(createHash('sha256').update(b).digest().equals(paths[i]!.narHash), `NAR of path ${i}, round ${round}`);
        });
      }
    } finally { agent.destroy(); }
  });
});
