// The small-GET client of the HTTP binary cache (store/cache/http-lite.ts) against raw TCP
// servers that answer exactly as each case needs: kept-alive connections reused, a connection
// the server closed while idle replaced, non-plain answers left to node:http, cut-off bodies
// and silent servers refused.
import test from 'ava';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { liteGet } from '../../store/cache/http-lite.js';
import { CacheTransferError } from '../../store/cache/http-cache.js';

interface RawServer { url: string; connections: () => number; close: () => Promise<void> }

/** A server calling `answer` with each request head (as text) and the socket to answer on. */
async function rawServer(answer: (head: string, sock: net.Socket, n: number) => void): Promise<RawServer> {
  let connections = 0;
  let requests = 0;
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    connections++;
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let at = buf.indexOf('\r\n\r\n'); at >= 0; at = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, at);
        buf = buf.slice(at + 4);
        answer(head, sock, requests++);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }),
  };
}

const plain = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const get = (srv: RawServer, path: string, timeoutMs = 5000) => liteGet(new URL(srv.url + path), { 'user-agent': 'tsix-test' }, 1 << 20, timeoutMs, srv.url + path);

test('many GETs share one kept-alive connection and get their own bodies', async (t) => {
  const srv = await rawServer((head, sock) => { const path = head.split(' ')[1]!; sock.write(plain(`body of ${path}`)); });
  try {
    for (let i = 0; i < 20; i++) {
      const r = await get(srv, `/f${i}`);
      t.is(r?.status, 200);
      t.is(r?.body.toString(), `body of /f${i}`);
    }
    t.is(srv.connections(), 1);
  } finally { await srv.close(); }
});

test('a kept connection the server closed while idle is replaced, and the GET succeeds', async (t) => {
  const srv = await rawServer((_head, sock) => { sock.end(plain('once')); }); // answers, then closes
  try {
    t.is((await get(srv, '/a'))?.body.toString(), 'once');
    await new Promise((r) => setTimeout(r, 50));
    t.is((await get(srv, '/b'))?.body.toString(), 'once');
    t.is(srv.connections(), 2);
  } finally { await srv.close(); }
});

test('a connection closed by the server before answering a reused request is retried on a new one', async (t) => {
  // The second request on the first connection is dropped without an answer (as a server
  // timing out an idle connection just as the request arrives would).
  const srv = await rawServer((_head, sock, n) => { if (n === 1) sock.destroy(); else sock.write(plain(`answer ${n}`)); });
  try {
    t.is((await get(srv, '/a'))?.body.toString(), 'answer 0');
    t.is((await get(srv, '/b'))?.body.toString(), 'answer 2');
    t.is(srv.connections(), 2);
  } finally { await srv.close(); }
});

test('Connection: close and HTTP/1.0 answers are not reused', async (t) => {
  const srv = await rawServer((_head, sock, n) => {
    sock.write(n % 2 === 0 ? plain('x', 'Connection: close\r\n') : `HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ny`);
  });
  try {
    for (let i = 0; i < 4; i++) t.is((await get(srv, `/${i}`))?.status, 200);
    t.is(srv.connections(), 4);
  } finally { await srv.close(); }
});

test('404 is an answer; chunked, length-less and unparsable answers are left to node:http (null)', async (t) => {
  const answers = [
    'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n',
    'garbage that is not HTTP\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde',
  ];
  const srv = await rawServer((_head, sock, n) => { sock.write(answers[n]!); });
  try {
    const r = await get(srv, '/missing');
    t.is(r?.status, 404);
    t.is(r?.body.toString(), 'not found');
    for (let i = 1; i < answers.length; i++) t.is(await get(srv, `/case${i}`), null, answers[i]);
  } finally { await srv.close(); }
});

test('a body cut off before its Content-Length, a silent server and a refused connection are errors', async (t) => {
  const cut = await rawServer((_head, sock) => { sock.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part'); });
  const silent = await rawServer(() => {});
  try {
    const e1 = await t.throwsAsync(get(cut, '/nar'), { instanceOf: CacheTransferError });
    t.regex(e1!.message, /cut off after 9 bytes of 100/);
    const e2 = await t.throwsAsync(get(silent, '/x', 200), { instanceOf: CacheTransferError });
    t.regex(e2!.message, /no data for 0\.2 s/);
  } finally { await cut.close(); await silent.close(); }
  const e3 = await t.throwsAsync(get(cut, '/gone'), { instanceOf: CacheTransferError });
  t.regex(e3!.message, /ECONNREFUSED/);
});

test('an answer longer than the limit is left to node:http', async (t) => {
  const srv = await rawServer((_head, sock) => { sock.write(plain('y'.repeat(2000))); });
  try {
    t.is(await liteGet(new URL(srv.url + '/big'), {}, 1000, 5000, srv.url), null);
  } finally { await srv.close(); }
});
