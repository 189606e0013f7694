// Serves a tsix store as a Nix binary cache over HTTP:
//   GET  /nix-cache-info                  StoreDir, WantMassQuery, Priority
//   GET  /<hashpart>.narinfo (and HEAD)    rendered from the PathInfo, signed on the fly with the secret key
//   GET  /nar/<hashpart>-<narhash>.nar     NAR streamed from the castore (Content-Length = narSize)
//   GET  /nar/<hashpart>-<narhash>.nar.zst the same, zstd-compressed on the fly (chunked: size unknown ahead)
//   PUT  /nar/…, /<hashpart>.narinfo       uploads as `nix copy --to http://…` sends them, when enabled
// NARs are never stored: they are rendered from the tree on demand. Uploaded NARs are imported
// into the castore as they arrive and registered only when their narinfo arrives and matches.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Node } from '../../store/castore/nodes.js';
import { ConfigError, CorruptionError, isTsixError } from '../../store/errors.js';
import { logger } from '../../store/log.js';
import { encodeBase32 } from '../../store/nix/base32.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { importNar } from '../../store/nix/nar-import.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { compress, decompress, type Compression } from '../../store/cache/compression.js';
import { formatCacheInfo, formatNarInfo, hashPartOf, parseNarInfo } from '../../store/cache/narinfo.js';
import { addSignature, checkTrust, metaToNarInfo, narInfoToMeta, type PathMeta, type TrustPolicy } from '../../store/cache/path-meta.js';
import { fingerprint, signFingerprint, SignatureError, type SecretKey } from '../../store/cache/signing.js';
import { Lru } from '../../fs/lru.js';
import { formatSha256 } from '../../store/cache/hash-text.js';
import { readAhead } from '../../store/cache/read-ahead.js';
import { acceptFast, type FastAnswer, type FastHandler } from './fast-path.js';

const log = logger('http-cache');

export interface BinaryCacheServerOptions {
  /** `HOST:PORT` (`[::1]:PORT` for IPv6; port 0 picks a free one). */
  listen: string;
  /** Signs every served narinfo with this key (in addition to the signatures the path has). */
  secretKey?: SecretKey | null;
  /** NAR compression advertised in narinfos: 'none' (default, fastest on a LAN) or 'zstd'. */
  compression?: 'none' | 'zstd';
  /** nix-cache-info Priority (default 40, as cache.nixos.org). */
  priority?: number;
  /** Enables PUT for clients presenting this token (HTTP Basic password, or `Bearer`). */
  uploadToken?: string | null;
  /** Enables PUT for loopback clients without a token. */
  allowLoopbackUpload?: boolean;
  /** When set, uploaded paths must be signed by one of these keys (or be content-addressed). */
  uploadTrust?: TrustPolicy | null;
}

export interface BinaryCacheServer {
  /** `http://host:port` as clients should use it. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface PendingNar { node: Node; narHash: Buffer; narSize: number; at: number }

const NARINFO = /^\/([0-9abcdfghijklmnpqrsvwxyz]{32})\.narinfo$/;
const NAR = /^\/nar\/([0-9abcdfghijklmnpqrsvwxyz]{32})-([0-9abcdfghijklmnpqrsvwxyz]{52})\.nar(\.zst)?$/;
const EXTENSIONS: Record<string, Compression | undefined> = { '': 'none', '.xz': 'xz', '.zst': 'zstd', '.bz2': 'bzip2', '.br': 'br', '.gz': 'gzip' };
/** MetaService keys: NAR URL as uploaded → the path it belongs to. */
const UPLOADED_PREFIX = 'http-cache/uploaded-nar/';
/** Bytes of NAR rendered ahead of the socket, so castore reads overlap with the client draining it. */
const READ_AHEAD = 16 << 20;
/** NARs up to this size are rendered whole and sent with their headers in one write. */
const WHOLE_NAR_MAX = 1 << 20;
const PENDING_TTL_MS = 3600_000;
/** Signatures remembered (by fingerprint): signing costs ~100 µs, a third of a narinfo request. */
const SIGNATURE_CACHE = 65536;
const MAX_NARINFO = 1 << 20;

/** The client closed the connection while a body was being sent: nothing to answer, nothing to log. */
class ClientGoneError extends Error {}

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  if (!m) throw new ConfigError(`invalid listen address '${listen}': expected HOST:PORT, e.g. 127.0.0.1:5000 or [::1]:5000`, { listen });
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`invalid listen address '${listen}': port ${port} is out of range`, { listen });
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Starts serving `store`; resolves once listening. The caller keeps `store` open until `close`. */
export async function serveBinaryCache(store: Store, opts: BinaryCacheServerOptions): Promise<BinaryCacheServer> {
  const { host, port } = parseListen(opts.listen);
  const pending = new Map<string, PendingNar>();
  const handler = new Handler(store, opts, pending);
  // node:http never listens itself: connections come to it from the fast path (fast-path.ts).
  const httpServer = http.createServer((req, res) => { handler.handle(req, res); });
  httpServer.keepAliveTimeout = 60_000;
  // What listen() would start: its connection list (closeAllConnections) and the checks of
  // headersTimeout and requestTimeout on the connections handed to it.
  httpServer.emit('listening');
  const owned = new Set<Socket>();
  const server = net.createServer((s) => { acceptFast(s, handler, httpServer, owned); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const actual = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, v] of pending) if (now - v.at > PENDING_TTL_MS) pending.delete(k);
  }, 60_000);
  sweep.unref();
  return {
    url: `http://${shownHost}:${actual}`,
    port: actual,
    close: () => new Promise<void>((resolve) => {
      clearInterval(sweep);
      server.close(() => resolve());
      for (const s of owned) s.destroy();
      httpServer.closeAllConnections();
      httpServer.close(); // stops those checks (it is not listening: the callback would get ERR_SERVER_NOT_RUNNING)
    }),
  };
}

class Handler implements FastHandler {
  private readonly signatures = new Lru<string, string>(SIGNATURE_CACHE);

  constructor(private readonly store: Store, private readonly opts: BinaryCacheServerOptions, private readonly pending: Map<string, PendingNar>) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      const a = failure(err, req.url);
      if (!a) return;
      if (res.headersSent) { res.destroy(); return; }
      res.writeHead(a.status, a.headers);
      res.end(req.method === 'HEAD' ? undefined : a.body);
    });
  }

  /**
   * The whole answer to a GET or HEAD that needs no streaming, else null (see fast-path.ts): a
   * zstd, uploaded or large NAR, or (`ranged`) part of a NAR. Null only for paths under /nar/.
   */
  async quick(method: 'GET' | 'HEAD', path: string, ranged = false): Promise<FastAnswer | null> {
    try {
      if (path === '/nix-cache-info') return text('text/x-nix-cache-info', this.cacheInfoBody());
      let m = NARINFO.exec(path);
      if (m) return text('text/x-nix-narinfo', await this.narInfoBody(m[1]!));
      m = NAR.exec(path);
      if (!m || m[3]) {
        if (path.startsWith('/nar/')) return null;
        throw new HttpError(404, `no such file: ${path}`);
      }
      if (ranged) return null;
      const info = await this.narPathInfo(m[1]!, m[2]!);
      if (method === 'GET' && info.narSize > WHOLE_NAR_MAX) return null; // streamed by node:http
      const body = method === 'HEAD' ? null : await wholeNar(this.store, info);
      return { status: 200, headers: { 'content-type': 'application/x-nix-nar', 'accept-ranges': 'bytes', 'content-length': info.narSize }, body };
    } catch (err) {
      return failure(err, path);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD') {
      // Answered as the fast path answers it, unless it must be streamed.
      const a = await this.quick(method, path, req.headers.range !== undefined);
      if (a) {
        res.writeHead(a.status, a.headers);
        res.end(method === 'HEAD' ? undefined : a.body);
        return;
      }
      const m = NAR.exec(path);
      return m ? this.nar(m[1]!, m[2]!, m[3] ? 'zstd' : 'none', req, res, method) : this.uploadedNar(path, res, method);
    }
    if (method === 'PUT') {
      this.checkUploadAllowed(req);
      if (path === '/nix-cache-info') { await drain(req); return this.ok(res); }
      const m = NARINFO.exec(path);
      if (m) return this.putNarInfo(m[1]!, req, res);
      if (path.startsWith('/nar/')) return this.putNar(path, req, res);
      // Build logs and realisations: accepted and not kept (tsix stores neither from uploads).
      if (path.startsWith('/log/') || path.startsWith('/realisations/') || path.startsWith('/debuginfo/')) { await drain(req); return this.ok(res); }
      throw new HttpError(400, `cannot upload '${path}': only nar/… and <hash>.narinfo files are accepted`);
    }
    res.setHeader('allow', 'GET, HEAD, PUT');
    throw new HttpError(405, `method ${method} not allowed`);
  }

  private ok(res: ServerResponse): void {
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  }

  private cacheInfoBody(): string {
    return formatCacheInfo({ storeDir: '/nix/store', wantMassQuery: true, priority: this.opts.priority ?? 40 });
  }

  private narUrl(info: PathInfo): string {
    return `nar/${hashPartOf(info.path)}-${encodeBase32(info.narHash)}.nar${this.opts.compression === 'zstd' ? '.zst' : ''}`;
  }

  private async narInfoBody(hashPart: string): Promise<string> {
    const info = await this.store.pathInfos.get(hashPart);
    if (!info) throw new HttpError(404, `no such path: ${hashPart}`);
    const { node: _n, registrationTime: _r, ...meta0 } = info;
    const meta = this.opts.secretKey ? addSignature(meta0, this.signature(meta0, this.opts.secretKey)) : meta0;
    const zstd = this.opts.compression === 'zstd';
    return formatNarInfo(metaToNarInfo(meta, {
      url: this.narUrl(info),
      compression: zstd ? 'zstd' : 'none',
      fileHash: zstd ? null : info.narHash,
      fileSize: zstd ? null : info.narSize,
    }));
  }

  /** The PathInfo a NAR URL names (404 unless it is this path's NAR). */
  private async narPathInfo(hashPart: string, narHash32: string): Promise<PathInfo> {
    const info = await this.store.pathInfos.get(hashPart);
    if (!info || encodeBase32(info.narHash) !== narHash32) throw new HttpError(404, `no such NAR: ${hashPart}-${narHash32}`);
    return info;
  }

  /** `key`'s signature of `m` (ed25519 signatures are deterministic, so a remembered one is exact). */
  private signature(m: PathMeta, key: SecretKey): string {
    const fp = fingerprint(m);
    let sig = this.signatures.get(fp);
    if (sig === undefined) this.signatures.set(fp, sig = signFingerprint(key, fp));
    return sig;
  }

  private async nar(hashPart: string, narHash32: string, compression: Compression, req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    const info = await this.narPathInfo(hashPart, narHash32);
    const headers: Record<string, string | number> = { 'content-type': compression === 'none' ? 'application/x-nix-nar' : 'application/zstd' };
    // Nix resumes an interrupted download with a Range request; the uncompressed NAR is deterministic, so serve it.
    const range = compression === 'none' ? parseRange(req.headers.range, info.narSize) : null;
    if (compression === 'none') headers['accept-ranges'] = 'bytes';
    if (range) {
      headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${info.narSize}`;
      headers['content-length'] = range.end - range.start;
    } else if (compression === 'none') headers['content-length'] = info.narSize;
    if (method !== 'HEAD' && compression === 'none' && !range && info.narSize <= WHOLE_NAR_MAX) {
      // Small NARs, most of a closure's: rendered before anything is sent, so one write carries
      // headers and body, and a NAR that fails its checks gets an error status, not a cut-off body.
      const whole = await wholeNar(this.store, info);
      res.writeHead(200, headers);
      res.end(whole);
      return;
    }
    res.writeHead(range ? 206 : 200, headers);
    if (method === 'HEAD') { res.end(); return; }
    if (compression === 'none' && !range) {
      // Large NARs: read buffers are reused (no fresh memory per 8 MiB, which cost page faults
      // and major GCs per request), each piece written out before the next is asked for.
      await streamTo(res, dumpNar(this.store, info.node, { transient: true }), true);
      return;
    }
    const nar = readAhead(dumpNar(this.store, info.node), READ_AHEAD);
    await streamTo(res, compression !== 'none' ? compress('zstd', nar, 3) : range ? slice(nar, range.start, range.end) : nar);
  }

  /**
   * A NAR under the name it was uploaded as: Nix remembers the narinfos it uploaded (in its
   * local narinfo cache) and later asks for these URLs, so they keep working, re-compressed on the fly.
   */
  private async uploadedNar(path: string, res: ServerResponse, method: string): Promise<void> {
    const alias = await this.store.meta.get(UPLOADED_PREFIX + path.slice(1));
    const ext = /\.nar(\.[a-z0-9]+)?$/.exec(path);
    const compression = ext ? EXTENSIONS[ext[1] ?? ''] : undefined;
    if (!alias || !compression) throw new HttpError(404, `no such file: ${path}`);
    const { hashPart, narHash } = JSON.parse(alias.toString('utf8')) as { hashPart: string; narHash: string };
    const info = await this.store.pathInfos.get(hashPart);
    if (!info || encodeBase32(info.narHash) !== narHash) throw new HttpError(404, `no such file: ${path}`);
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
    if (compression === 'none') headers['content-length'] = info.narSize;
    res.writeHead(200, headers);
    if (method === 'HEAD') { res.end(); return; }
    const nar = dumpNar(this.store, info.node);
    // Fast levels: the client only needs something it can decompress (it checks the NAR hash).
    const level = compression === 'xz' || compression === 'zstd' ? 1 : undefined;
    await streamTo(res, compression === 'none' ? nar : compress(compression, nar, level));
  }

  // ---- uploads ----

  private checkUploadAllowed(req: IncomingMessage): void {
    const token = this.opts.uploadToken;
    if (token) {
      const given = presentedToken(req.headers.authorization);
      if (given !== null && safeEqual(given, token)) return;
      if (!this.opts.allowLoopbackUpload || !isLoopback(req)) throw new HttpError(given === null ? 401 : 403, given === null ? 'uploads need a token (HTTP Basic password or Bearer)' : 'wrong upload token');
      return;
    }
    if (this.opts.allowLoopbackUpload && isLoopback(req)) return;
    throw new HttpError(403, 'uploads are disabled on this cache');
  }

  private async putNar(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ext = /\.nar(\.[a-z0-9]+)?$/.exec(path);
    if (!ext) throw new HttpError(400, `cannot upload '${path}': a NAR file name ends in .nar[.xz|.zst|.bz2|.br]`);
    const method = EXTENSIONS[ext[1] ?? ''];
    if (!method) throw new HttpError(400, `cannot upload '${path}': unknown compression '${ext[1]}'`);
    const r = await importNar(decompress(method, req as AsyncIterable<Buffer>), this.store, {});
    this.pending.set(path.slice(1), { node: r.node, narHash: r.narHash, narSize: r.narSize, at: Date.now() });
    this.ok(res);
  }

  private async putNarInfo(hashPart: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (await readLimited(req, MAX_NARINFO)).toString('utf8');
    const ni = parseNarInfo(text, `uploaded ${hashPart}.narinfo`);
    if (hashPartOf(ni.storePath) !== hashPart) throw new HttpError(400, `narinfo for '${ni.storePath}' uploaded as ${hashPart}.narinfo`);
    const nar = this.pending.get(ni.url);
    if (!nar) throw new HttpError(409, `the NAR '${ni.url}' of '${ni.storePath}' was not uploaded (upload the NAR before its narinfo)`);
    const meta = narInfoToMeta(ni);
    if (nar.narSize !== meta.narSize || !nar.narHash.equals(meta.narHash)) {
      throw new HttpError(400, `hash mismatch in uploaded NAR of '${meta.path}': narinfo says ${formatSha256(meta.narHash)} (${meta.narSize} bytes), the NAR is ${formatSha256(nar.narHash)} (${nar.narSize} bytes)`);
    }
    if (this.opts.uploadTrust) {
      const trust = checkTrust(meta, this.opts.uploadTrust, 'upload');
      if (trust instanceof SignatureError) throw new HttpError(403, trust.message);
    }
    for (const ref of meta.references) {
      if (ref !== meta.path && !(await this.store.pathInfos.get(hashPartOf(ref)))) {
        throw new HttpError(409, `cannot register '${meta.path}': its reference '${ref}' is not in this cache (upload references first)`);
      }
    }
    await this.store.pathInfos.put({ ...meta, node: nar.node, registrationTime: Math.floor(Date.now() / 1000) });
    await this.store.meta.putMany([[UPLOADED_PREFIX + ni.url, Buffer.from(JSON.stringify({ hashPart, narHash: encodeBase32(meta.narHash) }))]]);
    this.pending.delete(ni.url);
    this.ok(res);
  }
}

function text(type: string, body: string): FastAnswer {
  const b = Buffer.from(body, 'utf8');
  return { status: 200, headers: { 'content-type': type, 'content-length': b.length }, body: b };
}

/** The answer to a request that failed with `err` (logged), or null when the client went away. */
function failure(err: unknown, url: string | undefined): FastAnswer | null {
  if (err instanceof ClientGoneError) { log.debug({ url }, 'client went away'); return null; }
  const status = httpStatus(err);
  if (status === 500) log.error({ err, url }, 'request failed');
  else log.info({ url, status, msg: (err as Error).message }, 'request refused');
  const body = Buffer.from(`${(err as Error).message}\n`, 'utf8');
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length }, body };
}

/** The status an error answers with: the client's fault (4xx) unless the store itself is at fault. */
function httpStatus(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (!isTsixError(err) || err.code === 'E_CORRUPT') return 500;
  return err.code === 'E_NOT_FOUND' ? 404 : 400;
}

/** The whole NAR of `info` in one buffer (its pieces may be views of reused memory: copied here). */
async function wholeNar(store: Store, info: PathInfo): Promise<Buffer> {
  const out = Buffer.allocUnsafe(info.narSize);
  let at = 0;
  for await (const b of dumpNar(store, info.node, { transient: true })) {
    if (at + b.length > out.length) throw new CorruptionError(`the NAR of ${info.path} is longer than its narSize ${info.narSize}`, { path: info.path });
    at += b.copy(out, at);
  }
  if (at !== out.length) throw new CorruptionError(`the NAR of ${info.path} is ${at} bytes, not its narSize ${info.narSize}`, { path: info.path });
  return out;
}

/**
 * Writes a stream of buffers to a response, waiting for 'drain' only when the socket's buffer is
 * full (with `transient`, for each buffer's write to complete). Measured faster than pipeline(Readable.from(…)) here (one stream layer less per buffer).
 * A failure mid-way destroys the connection so that the client sees a cut-off body, never a short "complete" one.
 */
async function streamTo(res: ServerResponse, src: AsyncIterable<Buffer>, transient = false): Promise<void> {
  const closed = new Promise<void>((resolve) => res.once('close', resolve));
  try {
    for await (const b of src) {
      if (res.destroyed) throw new ClientGoneError();
      // A transient piece's memory is reused once the next is asked for: wait until the socket has taken it.
      if (transient) await Promise.race([new Promise<void>((r) => res.write(b, () => r())), closed]);
      else if (!res.write(b)) await Promise.race([new Promise((r) => res.once('drain', r)), closed]);
    }
    if (res.destroyed) throw new ClientGoneError();
  } catch (err) {
    res.destroy();
    throw err;
  }
  res.end();
}

/** A single `bytes=A-[B]` range within `size` bytes as [start, end), or null for none/unsupported forms. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]) + 1, size) : size;
  if (start >= size || end <= start) throw new HttpError(416, `range '${header}' is not within the ${size} bytes of the NAR`);
  return { start, end };
}

/** Bytes [start, end) of a stream. */
async function* slice(src: AsyncIterable<Buffer>, start: number, end: number): AsyncIterable<Buffer> {
  let pos = 0;
  for await (const b of src) {
    const from = Math.max(start - pos, 0);
    const to = Math.min(end - pos, b.length);
    if (to > from) yield from === 0 && to === b.length ? b : b.subarray(from, to);
    pos += b.length;
    if (pos >= end) return;
  }
}

function presentedToken(auth: string | undefined): string | null {
  if (!auth) return null;
  if (auth.startsWith('Bearer ')) return auth.slice(7).trim();
  if (auth.startsWith('Basic ')) {
    const dec = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = dec.indexOf(':');
    return colon < 0 ? dec : dec.slice(colon + 1);
  }
  return null;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isLoopback(req: IncomingMessage): boolean {
  const a = req.socket.remoteAddress ?? '';
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) { /* discard */ }
}

async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw new HttpError(413, `upload larger than ${limit} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}
