// The binary cache server's fast path (daemon/http/fast-path.ts) on raw connections: plain GETs
// and HEADs answered by it, in order, also when sent ahead of their answers or cut into pieces;
// every other request handing the connection to node:http at a request boundary. Answers from
// node:http carry a Date header and the fast path's do not: that tells which one answered.
import test from 'ava';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import { serveBinaryCache, type BinaryCacheServer } from '../../daemon/http/binary-cache-server.js';
import { parsePlainHead } from '../../daemon/http/fast-path.js';
import { parseNarInfo } from '../../store/cache/narinfo.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { scratch, tsixTextPath, type Scratch } from './fixtures.js';

interface Answer { status: number; headers: Map<string, string>; body: Buffer; byNodeHttp: boolean }

let s: Scratch;
let store: Store;
let srv: BinaryCacheServer;
let path: PathInfo;
let narUrl = '';

test.before(async () => {
  s = await scratch();
  store = await openStore('memory://');
  path = await tsixTextPath(store, s.dir, `fast-${randomBytes(4).toString('hex')}`, 'contents of a small path\n');
  srv = await serveBinaryCache(store, { listen: '127.0.0.1:0' });
  const [ni] = await exchange([`GET /${hashPart()}.narinfo HTTP/1.1\r\nHost: x\r\n\r\n`], 1);
  narUrl = '/' + parseNarInfo(ni!.body.toString(), 'served').url;
});
test.after.always(async () => {
  await srv?.close();
  await store?.close();
  await s?.cleanup();
});

const hashPart = (): string => path.path.slice(11, 43);

async function nar(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of dumpNar(store, path.node)) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

/**
 * Sends `pieces` on one connection (each a separate write, 5 ms apart) and reads `count` answers;
 * `heads` lists which requests were HEADs (their answers have no body). Resolves with the
 * answers and whether the server closed the connection after them.
 */
function exchange(pieces: string[], count: number, heads: number[] = []): Promise<Answer[] & { closed?: boolean }> {
  return new Promise((resolve, reject) => {
    const c = net.connect(srv.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const answers: Answer[] & { closed?: boolean } = [];
    const parse = (): void => {
      while (answers.length < count) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.toString('latin1', 0, end).split('\r\n');
        const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string]));
        const len = heads.includes(answers.length) ? 0 : Number(headers.get('content-length') ?? 0);
        if (buf.length < end + 4 + len) return;
        answers.push({ status: Number(lines[0]!.split(' ')[1]), headers, body: buf.subarray(end + 4, end + 4 + len), byNodeHttp: headers.has('date') });
        buf = buf.subarray(end + 4 + len);
      }
    };
    c.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); parse(); if (answers.length === count) setTimeout(() => { c.destroy(); resolve(answers); }, 50); });
    c.on('end', () => { answers.closed = true; parse(); resolve(answers); });
    c.on('error', reject);
    void (async () => {
      for (const p of pieces) { c.write(p); await new Promise((r) => setTimeout(r, 5)); }
    })();
  });
}

test('plain GETs and HEADs sent ahead of their answers are answered in order by the fast path; the first other request hands the connection to node:http', async (t) => {
  const req = (line: string, extra = '') => `${line} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
  const all = [
    req('GET /nix-cache-info'),
    req(`HEAD /${hashPart()}.narinfo`),
    req(`GET ${narUrl}`),
    req('GET /nothing-here'),
    req(`PUT /${hashPart()}.narinfo`, 'Content-Length: 3\r\n') + 'abc',
    req('GET /nix-cache-info'),
  ].join('');
  const a = await exchange([all], 6, [1]);
  t.deepEqual(a.map((x) => x.status), [200, 200, 200, 404, 403, 200]);
  t.deepEqual(a.map((x) => x.byNodeHttp), [false, false, false, false, true, true]);
  t.regex(a[0]!.body.toString(), /^StoreDir: \/nix\/store\n/);
  t.is(a[1]!.body.length, 0);
  t.is(a[1]!.headers.get('content-type'), 'text/x-nix-narinfo');
  t.true(a[2]!.body.equals(await nar()), 'the NAR is the path\'s');
  t.is(a[2]!.headers.get('content-length'), String(path.narSize));
  t.is(a[5]!.body.toString(), a[0]!.body.toString());
});

test('a request cut into pieces, Connection: close, HTTP/1.0, a Range and a head too large for node:http', async (t) => {
  const get = `GET /${hashPart()}.narinfo HTTP/1.1\r\nHost: x\r\n\r\n`;
  const pieces = [...get].reduce<string[]>((acc, ch, i) => { if (i % 7 === 0) acc.push(''); acc[acc.length - 1] += ch; return acc; }, []);
  const [cut] = await exchange(pieces, 1);
  t.is(cut!.status, 200);
  t.false(cut!.byNodeHttp);
  t.is(parseNarInfo(cut!.body.toString(), 'served').storePath, path.path);

  const closing = await exchange([`GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], 1);
  t.false(closing[0]!.byNodeHttp);
  t.is(closing[0]!.headers.get('connection'), 'close');
  t.true(closing.closed, 'the server closed the connection after its answer');

  const [old] = await exchange([`GET /nix-cache-info HTTP/1.0\r\n\r\n`], 1);
  t.is(old!.status, 200);
  t.true(old!.byNodeHttp);

  const [range] = await exchange([`GET ${narUrl} HTTP/1.1\r\nHost: x\r\nRange: bytes=8-15\r\n\r\n`], 1);
  t.is(range!.status, 206);
  t.true(range!.body.equals((await nar()).subarray(8, 16)));

  const [big] = await exchange([`GET /nix-cache-info HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`], 1);
  t.is(big!.status, 431);
});

test('what the fast path takes: plain GET and HEAD heads only', (t) => {
  t.deepEqual(parsePlainHead('GET /a.narinfo HTTP/1.1\r\nHost: x\r\nConnection: keep-alive'), { method: 'GET', path: '/a.narinfo', close: false });
  t.deepEqual(parsePlainHead('HEAD /nix-cache-info HTTP/1.1\r\nhost: x\r\nconnection: Close'), { method: 'HEAD', path: '/nix-cache-info', close: true });
  t.truthy(parsePlainHead('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0'));
  t.is(parsePlainHead('GET /a HTTP/1.1'), null, 'no Host');
  // Each with a Host, so that only the thing named refuses it.
  for (const head of [
    'PUT /a HTTP/1.1', 'GET /a HTTP/1.0', 'GET /a%20b HTTP/1.1', 'GET /a?b=1 HTTP/1.1', 'GET http://x/a HTTP/1.1',
    'GET /a HTTP/1.1\r\nContent-Length: 4', 'GET /a HTTP/1.1\r\nTransfer-Encoding: chunked', 'GET /a HTTP/1.1\r\nRange: bytes=0-1',
    'GET /a HTTP/1.1\r\nExpect: 100-continue', 'GET /a HTTP/1.1\r\nConnection: Upgrade', 'GET /a HTTP/1.1\r\n folded', 'GET /a HTTP/1.1\r\nno colon',
  ].map((h) => h.replace(/^([^\r]*)/, '$1\r\nHost: x'))) {
    t.is(parsePlainHead(head), null, head);
  }
});
