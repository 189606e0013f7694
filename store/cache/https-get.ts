// GET over https with a CA list of our own (tls-ca.ts). Node 20's global fetch (undici) cannot
// take one, so while extra CAs are in effect builtins.fetchurl and builtin:fetchurl download with
// this instead, doing what fetch does for them: redirects followed (up to 20), any status but
// 2xx an error ("HTTP error <status>"), the body decoded by its Content-Encoding.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { TsixError } from '../errors.js';

/** A download over node:https failed (code E_FETCH; callers add the URL). */
export class HttpsGetError extends TsixError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_FETCH', message, data);
  }
}

const MAX_REDIRECTS = 20;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
/** As undici's default body and headers timeouts: a stalled server must not hang a build. */
const IDLE_TIMEOUT_MS = 300_000;

/** The body of `url` (http or https; `ca` is used for https), decoded. */
export async function httpsGet(url: string, ca: string[]): Promise<Buffer> {
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const res = await getOnce(current, ca);
    const location = res.headers.location;
    if (!REDIRECT_STATUS.has(res.statusCode ?? 0) || location === undefined) return okBody(res);
    res.resume();
    if (hop >= MAX_REDIRECTS) throw new HttpsGetError('redirect count exceeded');
    current = new URL(location, current);
  }
}

function getOnce(url: URL, ca: string[]): Promise<IncomingMessage> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return Promise.reject(new HttpsGetError('URL scheme must be a HTTP(S) scheme'));
  // What fetch sends, so that servers answer as they answer fetch.
  const headers = { accept: '*/*', 'accept-encoding': 'gzip, deflate, br', 'user-agent': 'node' };
  return new Promise((resolve, reject) => {
    const r = url.protocol === 'https:' ? https.get(url, { ca, headers, agent: false }, resolve) : http.get(url, { headers, agent: false }, resolve);
    r.on('error', (e) => reject(new HttpsGetError(e.message, { code: (e as NodeJS.ErrnoException).code })));
    r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
  });
}

async function okBody(res: IncomingMessage): Promise<Buffer> {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299) {
    res.resume();
    throw new HttpsGetError(`HTTP error ${status}`, { status });
  }
  return decode(await readAll(res), res.headers['content-encoding']);
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  try {
    for await (const c of res as AsyncIterable<Buffer>) parts.push(c);
  } catch (e) {
    throw new HttpsGetError((e as Error).message);
  }
  if (!res.complete) throw new HttpsGetError('terminated');
  return Buffer.concat(parts);
}

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotli = promisify(zlib.brotliDecompress);
// As undici: a stream cut short after whole blocks still gives what it holds.
const LENIENT = { finishFlush: zlib.constants.Z_SYNC_FLUSH, flush: zlib.constants.Z_SYNC_FLUSH };

const DECODERS: Record<string, (b: Buffer) => Promise<Buffer>> = {
  gzip: (b) => gunzip(b, LENIENT),
  'x-gzip': (b) => gunzip(b, LENIENT),
  // "deflate" is meant to be zlib-wrapped, but some servers send it raw, which undici allows.
  deflate: (b) => (b[0]! & 0x0f) === 8 ? inflate(b, LENIENT) : inflateRaw(b, LENIENT),
  br: (b) => brotli(b),
};

/** Undoes the codings, last listed first; as undici, a body with any unknown coding stays as sent. */
async function decode(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  const codings = (encoding ?? '').toLowerCase().split(',').map((c) => c.trim()).filter(Boolean).reverse();
  if (body.length === 0 || codings.some((c) => !DECODERS[c])) return body;
  try {
    for (const c of codings) body = await DECODERS[c]!(body);
  } catch (e) {
    throw new HttpsGetError(`cannot decode the body (${encoding}): ${(e as Error).message}`);
  }
  return body;
}
