// A binary cache over HTTP(S) (`http://host[:port][/prefix]`), read with GET and written with PUT
// as `nix copy --to http://…` does. Credentials in the URL (`http://user:token@host`) are sent
// as Basic authentication. node:http with keep-alive agents, not fetch: NAR downloads are the
// hot path and IncomingMessage streams with less overhead.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { InvalidInputError, TsixError } from '../errors.js';
import { formatNarInfo, parseCacheInfo, parseNarInfo, type CacheInfo, type NarInfo, NIX_STORE_DIR } from './narinfo.js';
import { DEFAULT_PRIORITY, NarInfoCache, type BinaryCacheWriter, type Substituter, type SubstituterOptions } from './substituter.js';
import { checkHashPart } from './file-cache.js';
import { downloadSegments } from './http-segments.js';
import { liteGet } from './http-lite.js';
import { tlsCa } from './tls-ca.js';

/** An HTTP request to a cache failed (unreachable, unexpected status, cut-off body). */
export class CacheTransferError extends TsixError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_TRANSFER', message, data);
  }
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
let httpsAgent: https.Agent | null = null;

function agentFor(url: URL): http.Agent {
  if (url.protocol !== 'https:') return httpAgent;
  // Made on first use: its CA list may mean reading a CA bundle (tls-ca.ts).
  return httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: 16, ca: tlsCa() });
}

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Buffer;
}

/** Seconds without any data on a connection before a request fails (a stalled cache must not hang a build). */
const IDLE_TIMEOUT_MS = Number(process.env.TSIX_HTTP_TIMEOUT ?? 60) * 1000;
const MAX_REDIRECTS = 5;
const DISABLE_MS = 60_000;
/** Files from this size on are downloaded straight into shared memory segments (see http-segments.ts). */
const SEGMENTED_MIN = 8 << 20;
/** Largest narinfo or nix-cache-info body accepted. */
const SMALL_BODY_MAX = 1 << 24;

/**
 * One request; resolves with the response (its body not yet read). GET and HEAD follow up to 5
 * redirects (caches such as Cachix redirect NAR downloads to a CDN); credentials are sent to
 * the original host only.
 */
export async function httpRequest(url: URL, req: HttpRequest = {}): Promise<IncomingMessage> {
  const method = req.method ?? 'GET';
  let current = url;
  for (let hop = 0; ; hop++) {
    const res = await httpRequestOnce(current, req, current.host === url.host);
    const location = res.headers.location;
    if ((method !== 'GET' && method !== 'HEAD') || !location || ![301, 302, 303, 307, 308].includes(res.statusCode ?? 0)) return res;
    res.resume();
    if (hop >= MAX_REDIRECTS) throw new CacheTransferError(`${method} ${redact(url)}: more than ${MAX_REDIRECTS} redirects`, { url: redact(url) });
    current = new URL(location, current);
  }
}

function requestHeaders(url: URL, req: HttpRequest, sendCredentials: boolean): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': 'tsix', ...req.headers };
  if (sendCredentials && (url.username || url.password)) {
    headers.authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
  }
  return headers;
}

function httpRequestOnce(url: URL, req: HttpRequest, sendCredentials: boolean): Promise<IncomingMessage> {
  const mod = url.protocol === 'https:' ? https : http;
  const headers = requestHeaders(url, req, sendCredentials);
  return new Promise((resolve, reject) => {
    const r = mod.request(url, { method: req.method ?? 'GET', headers, agent: agentFor(url) }, resolve);
    r.on('error', (e) => reject(new CacheTransferError(`${req.method ?? 'GET'} ${redact(url)}: ${e.message}`, { url: redact(url) })));
    r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
    const body = req.body;
    if (!body) { r.end(); return; }
    if (Buffer.isBuffer(body)) { r.end(body); return; }
    (async () => {
      for await (const chunk of body) {
        if (!r.write(chunk)) await new Promise<void>((res) => r.once('drain', res));
      }
      r.end();
    })().catch((e: Error) => r.destroy(e));
  });
}

export async function readBody(res: IncomingMessage, limit = 1 << 24): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) { res.destroy(); throw new CacheTransferError(`response larger than ${limit} bytes`); }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

function redact(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const u = new URL(url.href);
  u.username = ''; u.password = '';
  return u.href;
}

export class HttpBinaryCache implements Substituter, BinaryCacheWriter {
  private readonly base: URL;
  private readonly narInfos: NarInfoCache;
  private info: Promise<CacheInfo> | null = null;
  private disabled: { until: number; error: CacheTransferError } | null = null;

  constructor(readonly url: string, private readonly opts: SubstituterOptions = {}) {
    this.base = new URL(url.endsWith('/') ? url : url + '/');
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new InvalidInputError('binary cache URL', `'${url}' is not http(s)`);
    this.narInfos = new NarInfoCache(opts.positiveTtl, opts.negativeTtl).persistIn(opts.persist, url);
  }

  private resolve(rel: string): URL {
    return new URL(rel, this.base);
  }

  async priority(): Promise<number> {
    return this.opts.priority ?? (await this.cacheInfo()).priority ?? DEFAULT_PRIORITY;
  }

  cacheInfo(): Promise<CacheInfo> {
    this.info ??= (async () => {
      const body = await this.getOptional('nix-cache-info');
      return body ? parseCacheInfo(body.toString('utf8'), this.resolve('nix-cache-info').href) : { storeDir: NIX_STORE_DIR, wantMassQuery: false, priority: null };
    })();
    this.info.catch(() => { this.info = null; });
    return this.info;
  }

  /** The body of a small file, or null on 404/403 (as Nix treats both as "no such file"). */
  private async getOptional(rel: string): Promise<Buffer | null> {
    const url = this.resolve(rel);
    if (this.disabled && Date.now() < this.disabled.until) throw this.disabled.error;
    let answer: SmallAnswer;
    try {
      answer = await getSmall(url);
    } catch (err) {
      // As Nix: a cache that cannot be reached is not asked again for a minute (no connection storm per path).
      this.disabled = { until: Date.now() + DISABLE_MS, error: new CacheTransferError(`${(err as Error).message} (binary cache '${redact(this.base)}' disabled for ${DISABLE_MS / 1000} s)`, { url: redact(url) }) };
      throw err;
    }
    this.disabled = null;
    if (answer.status === 404 || answer.status === 403) { answer.discard(); return null; }
    if (answer.status !== 200) { answer.discard(); throw new CacheTransferError(`GET ${redact(url)}: HTTP ${answer.status}`, { status: answer.status }); }
    return answer.body();
  }

  async queryNarInfo(hashPart: string): Promise<NarInfo | null> {
    checkHashPart(hashPart);
    const known = await this.narInfos.lookup(hashPart);
    if (known !== undefined) return known;
    const body = await this.getOptional(`${hashPart}.narinfo`);
    const info = body ? parseNarInfo(body.toString('utf8'), this.resolve(`${hashPart}.narinfo`).href) : null;
    await this.narInfos.remember(hashPart, info);
    return info;
  }

  async fetchNar(info: NarInfo): Promise<AsyncIterable<Buffer>> {
    const url = this.resolve(info.url);
    if (url.protocol === 'http:' && (info.fileSize ?? info.narSize) >= SEGMENTED_MIN) {
      const download = await downloadSegments(url, requestHeaders(url, {}, url.host === this.base.host), IDLE_TIMEOUT_MS, redact(url));
      if (download) return download.body;
    }
    if (url.protocol === 'http:') {
      const lite = await liteGet(url, requestHeaders(url, {}, url.host === this.base.host), SEGMENTED_MIN, IDLE_TIMEOUT_MS, redact(url));
      if (lite && lite.status !== 200) throw new CacheTransferError(`GET ${redact(url)} (NAR of '${info.storePath}'): HTTP ${lite.status}`, { status: lite.status });
      if (lite) return once(lite.body);
    }
    const res = await httpRequest(url);
    if (res.statusCode !== 200) {
      res.resume();
      throw new CacheTransferError(`GET ${redact(url)} (NAR of '${info.storePath}'): HTTP ${res.statusCode}`, { status: res.statusCode });
    }
    const declared = res.headers['content-length'];
    return checkedBody(res, declared === undefined ? null : Number(declared), redact(url));
  }

  async hasNarInfo(hashPart: string): Promise<boolean> {
    checkHashPart(hashPart);
    const url = this.resolve(`${hashPart}.narinfo`);
    const res = await httpRequest(url, { method: 'HEAD' });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404 || res.statusCode === 403) return false;
    throw new CacheTransferError(`HEAD ${redact(url)}: HTTP ${res.statusCode}`, { status: res.statusCode });
  }

  async putFile(relPath: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, contentType: string, size?: number): Promise<void> {
    const url = this.resolve(relPath);
    const headers: Record<string, string> = { 'content-type': contentType };
    if (size !== undefined) headers['content-length'] = String(size);
    const res = await httpRequest(url, { method: 'PUT', headers, body: data });
    const body = await readBody(res).catch(() => Buffer.alloc(0));
    if (res.statusCode! < 200 || res.statusCode! >= 300) {
      throw new CacheTransferError(`PUT ${redact(url)}: HTTP ${res.statusCode}${body.length ? `: ${body.toString('utf8').trim().slice(0, 500)}` : ''}`, { status: res.statusCode });
    }
  }

  async putNarInfo(info: NarInfo): Promise<void> {
    const hashPart = info.storePath.slice(NIX_STORE_DIR.length + 1, NIX_STORE_DIR.length + 33);
    const text = Buffer.from(formatNarInfo(info));
    await this.putFile(`${hashPart}.narinfo`, [text], 'text/x-nix-narinfo', text.length);
    await this.narInfos.remember(hashPart, info);
  }
}

/** A small file's answer: its status, and its body to read or to discard. */
interface SmallAnswer { status: number; body(): Promise<Buffer>; discard(): void }

/** GETs a small file: over plain http with the light client when the answer is plain, else node:http. */
async function getSmall(url: URL): Promise<SmallAnswer> {
  const lite = url.protocol === 'http:' ? await liteGet(url, requestHeaders(url, {}, true), SMALL_BODY_MAX, IDLE_TIMEOUT_MS, redact(url)) : null;
  if (lite) return { status: lite.status, body: () => Promise.resolve(lite.body), discard: () => {} };
  const res = await httpRequest(url);
  return { status: res.statusCode ?? 0, body: () => readBody(res), discard: () => { res.resume(); } };
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

/** A response body that fails if the connection ends before Content-Length bytes arrived. */
async function* checkedBody(res: IncomingMessage, expected: number | null, url: string): AsyncIterable<Buffer> {
  let n = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) { n += c.length; yield c; }
  } catch (e) {
    throw new CacheTransferError(`GET ${url}: download cut off after ${n} bytes${expected !== null ? ` of ${expected}` : ''}: ${(e as Error).message}`, { url });
  }
  if (!res.complete || (expected !== null && n !== expected)) {
    throw new CacheTransferError(`GET ${url}: download cut off after ${n} bytes${expected !== null ? ` of ${expected}` : ''}`, { url });
  }
}
