// Small GETs over plain HTTP on kept-alive sockets of our own: narinfos and small NARs, a
// closure's hundreds of requests. node:http's client (agent, ClientRequest, parser, streams)
// cost ~0.5 ms of CPU per request here, about three times this; substituting 301 small paths
// spent ~200 ms of its main thread on it. Only the plain case is handled: an answer with a
// Content-Length and no Transfer-Encoding. Anything else (redirects, chunked bodies, a head that
// does not parse) answers null, and the caller asks again with node:http, which knows the rest.
import net from 'node:net';
import { CacheTransferError } from './http-cache.js';

const MAX_HEAD = 64 << 10;
/** Idle connections kept per host:port (as many as requests run at once, in practice). */
const MAX_IDLE = 16;

export interface LiteResponse {
  status: number;
  body: Buffer;
}

const idle = new Map<string, net.Socket[]>();

/**
 * GETs `url` (http: only), its body at most `limit` bytes. Resolves to the status and whole body
 * of a plain answer, or null for one to ask node:http about. Rejects with CacheTransferError when
 * the server cannot be reached, stalls for `idleTimeoutMs`, or cuts the body short.
 */
export async function liteGet(url: URL, headers: Record<string, string>, limit: number, idleTimeoutMs: number, shown: string): Promise<LiteResponse | null> {
  const origin = `${url.hostname}:${url.port || 80}`;
  const request = requestText(url, headers);
  // A kept connection the server has closed meanwhile fails before any byte of an answer:
  // then (and only then) the GET is sent again on a new connection.
  for (let sock = takeIdle(origin); sock; sock = takeIdle(origin)) {
    const r = await exchange(sock, origin, request, limit, idleTimeoutMs, shown).catch((e: unknown) => e instanceof StaleConnection ? undefined : Promise.reject(e));
    if (r !== undefined) return r;
  }
  const fresh = net.connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) });
  fresh.setNoDelay(true);
  const r = await exchange(fresh, origin, request, limit, idleTimeoutMs, shown).catch((e: unknown) => Promise.reject(e instanceof StaleConnection ? e.cause : e));
  return r!;
}

/** The connection closed before any byte of the answer (`cause` says how). */
class StaleConnection extends Error {
  constructor(override readonly cause: CacheTransferError) { super(cause.message); }
}

function requestText(url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

function takeIdle(origin: string): net.Socket | null {
  const list = idle.get(origin);
  while (list && list.length) {
    const s = list.pop()!;
    s.removeAllListeners('close');
    s.removeAllListeners('error');
    if (!s.destroyed) return s;
  }
  return null;
}

function keepIdle(origin: string, sock: net.Socket): void {
  let list = idle.get(origin);
  if (!list) idle.set(origin, list = []);
  if (list.length >= MAX_IDLE) { sock.destroy(); return; }
  sock.setTimeout(0);
  // An idle connection must not keep the process alive, and goes away when the server closes it.
  sock.unref();
  const forget = () => { const i = list.indexOf(sock); if (i >= 0) list.splice(i, 1); sock.destroy(); };
  sock.once('close', forget);
  sock.once('error', forget);
  list.push(sock);
}

/** One request and its answer on `sock`; the socket is kept for reuse or destroyed. */
function exchange(sock: net.Socket, origin: string, request: string, limit: number, idleTimeoutMs: number, shown: string): Promise<LiteResponse | null> {
  return new Promise((resolve, reject) => {
    /** Bytes before the end of the head; then the body's pieces. */
    let pre: Buffer | null = null;
    let head: PlainHead | null = null;
    const parts: Buffer[] = [];
    let got = 0;
    let answered = false;
    let settled = false;
    const finish = (r: LiteResponse | null, keep: boolean) => {
      if (settled) return;
      settled = true;
      cleanup();
      if (keep) keepIdle(origin, sock); else sock.destroy();
      resolve(r);
    };
    const fail = (err: CacheTransferError) => {
      if (settled) return;
      settled = true;
      cleanup();
      sock.destroy();
      reject(answered ? err : new StaleConnection(err));
    };
    const onData = (d: Buffer) => {
      answered = true;
      if (!head) {
        pre = pre === null ? d : Buffer.concat([pre, d]);
        const at = pre.indexOf('\r\n\r\n');
        if (at < 0) { if (pre.length > MAX_HEAD) finish(null, false); return; }
        head = parseHead(pre.toString('latin1', 0, at));
        if (!head || head.length > limit) { finish(null, false); return; }
        d = pre.subarray(at + 4);
        pre = null;
      }
      if (d.length) { parts.push(d); got += d.length; }
      if (got > head.length) { finish(null, false); return; } // bytes beyond the body: not a plain answer
      if (got === head.length) finish({ status: head.status, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts, got) }, head.keep);
    };
    const onClose = () => fail(new CacheTransferError(head
      ? `GET ${shown}: download cut off after ${got} bytes of ${head.length}`
      : `GET ${shown}: the connection closed before an answer`, { url: shown }));
    const onError = (e: Error) => fail(new CacheTransferError(`GET ${shown}: ${e.message}`, { url: shown }));
    const onTimeout = () => fail(new CacheTransferError(`GET ${shown}: no data for ${idleTimeoutMs / 1000} s`, { url: shown }));
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.off('error', onError);
      sock.off('timeout', onTimeout);
    };
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', onError);
    sock.on('timeout', onTimeout);
    sock.setTimeout(idleTimeoutMs);
    sock.ref();
    sock.write(request);
  });
}

export interface PlainHead { status: number; length: number; keep: boolean }

/**
 * Status, Content-Length and whether the connection stays open, from a response head (without
 * its blank line); null unless a plain answer (one Content-Length, no Transfer-Encoding).
 */
export function parseHead(text: string): PlainHead | null {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
  if (!m) return null;
  let length = -1;
  let connection = '';
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const name = l.slice(0, c).trim().toLowerCase();
    const value = l.slice(c + 1).trim();
    if (name === 'content-length') {
      if (!/^\d+$/.test(value) || length >= 0) return null;
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      return null;
    } else if (name === 'connection') {
      connection = value.toLowerCase();
    }
  }
  const status = Number(m[2]);
  if (length < 0 || (status >= 100 && status < 200) || status === 204 || status === 304) return null;
  const keep = m[1] === '1' ? connection !== 'close' : connection === 'keep-alive';
  return { status, length, keep };
}
