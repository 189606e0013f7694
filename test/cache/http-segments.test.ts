// Large NARs over plain HTTP are read straight into shared segments (store/cache/http-segments.ts);
// everything that is not a plain 200 with a Content-Length goes through node:http instead. Both
// must give the same path, and a short, long or failed download must store nothing.
import test from 'ava';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import { serveBinaryCache, type BinaryCacheServer } from '../../daemon/http/binary-cache-server.js';
import { generateKeyPair, parsePublicKey, parseSecretKey } from '../../store/cache/signing.js';
import { HttpBinaryCache } from '../../store/cache/http-cache.js';
import { downloadSegments } from '../../store/cache/http-segments.js';
import { isFreshSegment } from '../../store/castore/shared-segments.js';
import { substitute } from '../../store/cache/substitute.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { narProxy, scratch, tsixOpaquePath, type Scratch } from './fixtures.js';

const keys = generateKeyPair('tsix-seg-1');
let s: Scratch;
let origin: Store;
let srv: BinaryCacheServer;
let big: PathInfo;

test.before(async () => {
  s = await scratch('tsix-seg-');
  origin = await openStore('memory://');
  big = await tsixOpaquePath(origin, s.dir, 'big-nar', randomBytes(12 << 20));
  srv = await serveBinaryCache(origin, { listen: '127.0.0.1:0', secretKey: parseSecretKey(keys.secret) });
});

test.after.always(async () => {
  await srv?.close();
  await origin?.close();
  await s?.cleanup();
});

async function listen(server: http.Server | net.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server | net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  await new Promise((r) => server.close(r));
}

async function narOf(store: Store, info: PathInfo): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of dumpNar(store, info.node)) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** Substitutes `big` from `url`: the error, or null after checking the stored path. */
async function fetchBig(t: import('ava').ExecutionContext, url: string): Promise<Error | null> {
  const dest = await openStore('memory://');
  try {
    await substitute(dest, [new HttpBinaryCache(url)], big.path, [parsePublicKey(keys.public)]);
    const got = await dest.pathInfos.get(big.path.slice(11, 43));
    t.true(got!.narHash.equals(big.narHash));
    t.true((await narOf(dest, got!)).equals(await narOf(origin, big)));
    return null;
  } catch (err) {
    t.is(await dest.pathInfos.get(big.path.slice(11, 43)), null, 'nothing registered after a failed download');
    return err as Error;
  } finally {
    await dest.close();
  }
}

test('a large NAR straight from the server (read into shared segments) and through proxies that redirect or send it chunked (node:http) give the same path', async (t) => {
  // Passes everything through, noting how the NAR was asked for: node:http keeps connections alive, the segment reader does not.
  const asked: string[] = [];
  const plain = narProxy(srv.url, (up, res) => { res.writeHead(up.statusCode!, up.headers); up.pipe(res); });
  plain.on('request', (req: http.IncomingMessage) => { if (req.url!.startsWith('/nar/')) asked.push(String(req.headers.connection)); });
  try {
    t.is(await fetchBig(t, await listen(plain)), null);
  } finally {
    await close(plain);
  }
  t.deepEqual(asked, ['close']);
  const chunked = narProxy(srv.url, (up, res) => { res.writeHead(200, { 'content-type': 'application/x-nix-nar' }); up.pipe(res); });
  const redirector = http.createServer((req, res) => { res.writeHead(302, { location: `${srv.url}${req.url}` }); res.end(); });
  try {
    t.is(await fetchBig(t, await listen(chunked)), null);
    t.is(await fetchBig(t, await listen(redirector)), null);
  } finally {
    await close(chunked);
    await close(redirector);
  }
});

test('a large NAR cut off halfway, an HTTP error, and a body longer than its Content-Length are refused and store nothing', async (t) => {
  const cut = narProxy(srv.url);
  const failing = narProxy(srv.url, (up, res) => { up.resume(); res.writeHead(500); res.end('boom'); });
  // Raw HTTP: a Content-Length 10 bytes short of what is sent.
  const long = net.createServer((sock) => {
    sock.once('data', (req) => {
      const path = /^GET (\S+)/.exec(req.toString('latin1'))![1]!;
      http.get(`${srv.url}${path}`, (up) => {
        const n = Number(up.headers['content-length']);
        const length = path.startsWith('/nar/') ? n - 10 : n;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`);
        up.pipe(sock);
      });
    });
  });
  try {
    t.regex((await fetchBig(t, await listen(cut)))!.message, /cut off after \d+ bytes of \d+/);
    t.regex((await fetchBig(t, await listen(failing)))!.message, /HTTP 500/);
    t.regex((await fetchBig(t, await listen(long)))!.message, /more than the \d+ bytes of Content-Length|NAR/);
  } finally {
    await close(cut);
    await close(failing);
    await close(long);
  }
});

test('a download read slower than it arrives pauses the socket and still delivers every byte, in fresh segments', async (t) => {
  const body = randomBytes(40 << 20);
  const server = http.createServer((req, res) => {
    if (req.url === '/404') { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  try {
    const url = new URL(`${await listen(server)}/x`);
    const d = await downloadSegments(url, {}, 10_000, url.href);
    t.is(d!.length, body.length);
    const parts: Buffer[] = [];
    for await (const p of d!.body) {
      t.true(isFreshSegment(p));
      parts.push(p);
      await new Promise((r) => setTimeout(r, 20));
    }
    t.true(Buffer.concat(parts).equals(body));
    t.is(await downloadSegments(new URL(`${url.origin}/404`), {}, 10_000, 'x'), null, 'anything but a 200 is left to node:http');
  } finally {
    await close(server);
  }
});
