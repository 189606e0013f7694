// A fast path in front of node:http for what binary cache clients ask for most: GET and HEAD of
// small things (nix-cache-info, narinfos, small NARs) answered from one buffer. node:http's
// request and response objects cost ~0.3 ms of CPU per request on this machine (1,800 GETs of a
// 57 KiB body on 25 keep-alive connections: 640-740 ms of server CPU, 390-440 ms written raw),
// as much as rendering the answer; a `nix-store -r` of a closure of 300 small paths makes 600.
//
// Connections are read raw. A request this path does not take whole — another method or
// version, a body, a Range, an Expect or Upgrade, a percent-encoded or query target, a head it
// cannot parse or longer than node:http allows, an answer to stream — hands the connection, with
// the bytes read so far, to node:http for the rest of its life, at a request boundary (answers
// go out in order: the fast path answers one request at a time).
import type { Server as HttpServer } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** A whole answer. `body` null for HEAD (the headers are those GET would have). */
export interface FastAnswer {
  status: number;
  headers: Record<string, string | number>;
  body: Buffer | null;
}

export interface FastHandler {
  /** The whole answer to `method path` (a decoded absolute path), or null to leave it to node:http. */
  quick(method: 'GET' | 'HEAD', path: string): Promise<FastAnswer | null>;
}

/** node:http's default limit on a request head (--max-http-header-size). */
const MAX_HEAD = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');
const REQUEST_LINE = /^(GET|HEAD) (\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*) HTTP\/1\.1$/;
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
/** Headers that mean more than a plain GET: node:http deals with those requests. */
const NOT_PLAIN = new Set(['transfer-encoding', 'range', 'expect', 'upgrade', 'if-range']);

interface Parsed { method: 'GET' | 'HEAD'; path: string; close: boolean }

/** A plain GET or HEAD head (without its final CRLF CRLF), or null. */
export function parsePlainHead(head: string): Parsed | null {
  const lines = head.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return null;
  let close = false;
  let host = false;
  for (let i = 1; i < lines.length; i++) {
    const h = HEADER.exec(lines[i]!);
    if (!h) return null;
    const name = h[1]!.toLowerCase();
    if (NOT_PLAIN.has(name)) return null;
    if (name === 'content-length' && h[2] !== '0') return null;
    if (name === 'host') host = true;
    if (name === 'connection') {
      const tokens = h[2]!.toLowerCase().split(',').map((t) => t.trim());
      if (tokens.includes('upgrade')) return null;
      if (tokens.includes('close')) close = true;
    }
  }
  // HTTP/1.1 requires Host: node:http refuses a request without it, so this path does not take it.
  return host ? { method: m[1] as 'GET' | 'HEAD', path: m[2]!, close } : null;
}

function answerBytes(a: FastAnswer, close: boolean): Buffer {
  let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? ''}\r\n`;
  for (const k in a.headers) head += `${k}: ${a.headers[k]}\r\n`;
  head += close ? 'connection: close\r\n\r\n' : 'connection: keep-alive\r\n\r\n';
  const h = Buffer.from(head, 'latin1');
  return a.body && a.body.length ? Buffer.concat([h, a.body], h.length + a.body.length) : h;
}

/** One raw connection, until it closes or is handed to node:http. */
class FastConnection {
  private buf: Buffer = Buffer.alloc(0);
  private busy = false;
  private gone = false;
  /** When the first byte of a head still incomplete arrived (a client sending it slowly is cut off, as node:http's headersTimeout does). */
  private headSince = 0;

  constructor(private readonly s: Socket, private readonly handler: FastHandler, private readonly http: HttpServer, idleMs: number, private readonly headMs: number, private readonly owned: Set<Socket>) {
    owned.add(s);
    s.setNoDelay(true);
    s.setTimeout(idleMs);
    s.on('data', this.onData);
    s.on('timeout', this.destroy);
    s.on('error', this.destroy);
    s.on('close', this.onClose);
  }

  private readonly onData = (d: Buffer): void => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    // Requests sent ahead of their answers wait here; a client that sends without reading waits too.
    if (this.busy) { if (this.buf.length > MAX_HEAD) this.s.pause(); return; }
    this.next();
  };

  /** On an idle timeout or a socket error. */
  private readonly destroy = (): void => { this.s.destroy(); };
  private readonly onClose = (): void => { this.gone = true; this.owned.delete(this.s); };

  /** Answers the first buffered request, if it is complete and for this path (the next ones after it). */
  private next(): void {
    if (this.gone) return;
    const end = this.buf.indexOf(CRLF2);
    if (end < 0) {
      if (this.buf.length > MAX_HEAD) { this.handOff(); return; }
      const now = Date.now();
      if (this.headSince === 0) this.headSince = now;
      else if (now - this.headSince > this.headMs) this.s.destroy();
      return;
    }
    this.headSince = 0;
    const req = end <= MAX_HEAD ? parsePlainHead(this.buf.toString('latin1', 0, end)) : null;
    if (!req) { this.handOff(); return; }
    this.busy = true;
    void this.handler.quick(req.method, req.path).then((a) => this.answered(a, req, end + 4), () => this.s.destroy());
  }

  /** `headLength`: bytes of the buffer the request took (more may have arrived behind them). */
  private answered(a: FastAnswer | null, req: Parsed, headLength: number): void {
    this.busy = false;
    if (this.gone) return;
    if (!a) { this.handOff(); return; } // the request is still at the head of the buffer
    this.buf = this.buf.subarray(headLength);
    const bytes = answerBytes(req.method === 'HEAD' ? { ...a, body: null } : a, req.close);
    if (req.close) { this.gone = true; this.s.end(bytes); return; }
    if (this.s.write(bytes)) { this.s.resume(); this.next(); return; }
    // The client is not reading: its next requests wait until it has taken this answer.
    this.busy = true;
    this.s.once('drain', () => { this.busy = false; this.s.resume(); this.next(); });
  }

  /** Gives the connection and what was read of it to node:http, which answers from here on. */
  private handOff(): void {
    const s = this.s;
    s.off('data', this.onData);
    s.off('timeout', this.destroy);
    s.off('error', this.destroy);
    s.off('close', this.onClose);
    s.setTimeout(0);
    this.owned.delete(s);
    this.gone = true;
    this.http.emit('connection', s);
    // Delivered as read from the socket, before anything the socket reads next.
    if (this.buf.length) s.emit('data', this.buf);
    s.resume();
  }
}

/** Serves `socket` through the fast path, and node:http `http` (never listening itself) when needed. */
export function acceptFast(socket: Socket, handler: FastHandler, http: HttpServer, owned: Set<Socket>): void {
  new FastConnection(socket, handler, http, http.keepAliveTimeout, http.headersTimeout, owned);
}
