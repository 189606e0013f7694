// Extra CA certificates without Node's start-up cost: the launcher (daemon/cli/tsix) moves
// NODE_EXTRA_CA_CERTS to TSIX_EXTRA_CA_CERTS, and every https download tsix makes (eval-time
// builtins.fetchurl, builtin:fetchurl, https binary caches) trusts it. Against a real https server
// on 127.0.0.1 whose certificate is signed by a CA made for the test with openssl.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { runCommand, type CliResult } from '../helpers/cli.js';
import { sourcePath } from '../helpers/paths.js';

const HELLO = 'hello over TLS\n';
const HELLO_SHA256 = createHash('sha256').update(HELLO).digest('hex');
const CERT_ERROR = /certificate|self.signed/i;

let dir = '';
let server: https.Server | null = null;
let base = '';

/** A CA, and a certificate for 127.0.0.1 it signed, in `dir`. */
function makeCertificates(): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=tsix test CA');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
}

/** HELLO sent with a Content-Encoding, as servers may answer fetch's Accept-Encoding. */
const ENCODED: Record<string, { as: string; encode: (b: Buffer) => Buffer }> = {
  '/hello.gz': { as: 'gzip', encode: (b) => gzipSync(b) },
  '/hello.zz': { as: 'deflate', encode: (b) => deflateSync(b) },
  '/hello.raw': { as: 'deflate', encode: (b) => deflateRawSync(b) },
  '/hello.br': { as: 'br', encode: (b) => brotliCompressSync(b) },
  '/hello.gz.br': { as: 'gzip, br', encode: (b) => brotliCompressSync(gzipSync(b)) },
};

/** Files under `dir`/www, plus a redirect chain, encoded answers (ENCODED) and a 404. */
function handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
  if (path.startsWith('/redirect/')) {
    const n = Number(path.slice('/redirect/'.length));
    res.writeHead(302, { location: n > 0 ? `/redirect/${n - 1}` : '/hello.txt' });
    res.end();
    return;
  }
  const encoded = ENCODED[path];
  if (encoded) {
    const body = encoded.encode(Buffer.from(HELLO));
    res.writeHead(200, { 'content-encoding': encoded.as, 'content-length': body.length });
    res.end(body);
    return;
  }
  let body: Buffer;
  try {
    body = readFileSync(join(dir, 'www', path));
  } catch {
    res.writeHead(404); res.end('not found'); return;
  }
  res.writeHead(200, { 'content-length': body.length });
  res.end(body);
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsix-tls-'));
  makeCertificates();
  execFileSync('mkdir', ['-p', join(dir, 'www')]);
  writeFileSync(join(dir, 'www', 'hello.txt'), HELLO);
  server = https.createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) }, handle);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  if (server) { server.closeAllConnections(); await new Promise((resolve) => server!.close(resolve)); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The environment of a tsix run: the test CA (or `ca`) as TSIX_EXTRA_CA_CERTS, no NODE_EXTRA_CA_CERTS. */
function caEnv(ca: string | null = join(dir, 'ca.pem')): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TSIX_STORE: 'memory://' };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.TSIX_EXTRA_CA_CERTS;
  if (ca) env.TSIX_EXTRA_CA_CERTS = ca;
  return env;
}

/** tsix with exactly `env` (the tsix() helper merges into process.env, which may hold NODE_EXTRA_CA_CERTS). */
function run(argv0: string[], args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runCommand([...argv0, ...args], env);
}

const MAIN = [process.execPath, sourcePath('dist/daemon/cli/main.js')];

function hashOfFetch(url: string): string {
  return `builtins.hashFile "sha256" (builtins.fetchurl "${url}")`;
}

const PATHS = ['/hello.txt', '/redirect/3', ...Object.keys(ENCODED)];

/** `tsix eval` of the sha256 of each of PATHS as fetched, in one process; checks each is HELLO's. */
async function fetchesAll(t: import('ava').ExecutionContext, env: NodeJS.ProcessEnv): Promise<void> {
  const r = await run(MAIN, ['eval', '--json', '--strict', '-E', `[ ${PATHS.map((p) => `(${hashOfFetch(`${base}${p}`)})`).join(' ')} ]`], env);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout.toString()), PATHS.map(() => HELLO_SHA256));
}

test('builtins.fetchurl over https trusts TSIX_EXTRA_CA_CERTS, follows redirects and decodes the body', async (t) => {
  await fetchesAll(t, caEnv());
});

test('without the CA, builtins.fetchurl over https fails with a certificate error', async (t) => {
  const r = await run(MAIN, ['eval', '-E', hashOfFetch(`${base}/hello.txt`)], caEnv(null));
  t.not(r.code, 0);
  t.regex(r.stderr, CERT_ERROR);
});

test('with the CA, errors are fetch\'s: a 404 is "HTTP error 404", more than 20 redirects fail', async (t) => {
  const missing = await run(MAIN, ['eval', '-E', hashOfFetch(`${base}/missing`)], caEnv());
  t.not(missing.code, 0);
  t.regex(missing.stderr, new RegExp(`unable to download '${base}/missing': HTTP error 404`));
  const loop = await run(MAIN, ['eval', '-E', hashOfFetch(`${base}/redirect/21`)], caEnv());
  t.not(loop.code, 0);
  t.regex(loop.stderr, /redirect count exceeded/);
});

test('an unreadable TSIX_EXTRA_CA_CERTS is reported and Node\'s defaults apply', async (t) => {
  const r = await run(MAIN, ['eval', '-E', hashOfFetch(`${base}/hello.txt`)], caEnv(join(dir, 'no-such-ca.pem')));
  t.not(r.code, 0);
  t.regex(r.stderr, /ignoring extra certs from '.*no-such-ca\.pem', load failed/);
  t.regex(r.stderr, CERT_ERROR);
});

test('the launcher, run through a symlink, moves NODE_EXTRA_CA_CERTS to TSIX_EXTRA_CA_CERTS', async (t) => {
  const link = join(dir, 'tsix');
  symlinkSync(sourcePath('daemon/cli/tsix'), link);
  const env = caEnv(null);
  env.NODE_EXTRA_CA_CERTS = join(dir, 'ca.pem');
  const r = await run([link], ['eval', '--strict', '-E', `[ (builtins.getEnv "NODE_EXTRA_CA_CERTS") (builtins.getEnv "TSIX_EXTRA_CA_CERTS") (${hashOfFetch(`${base}/hello.txt`)}) ]`], env);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString().trim(), `[ "" "${join(dir, 'ca.pem')}" "${HELLO_SHA256}" ]`);
});

test('NODE_EXTRA_CA_CERTS itself (loaded by Node; global fetch downloads) is still honoured, with the same results', async (t) => {
  const env = caEnv(null);
  env.NODE_EXTRA_CA_CERTS = join(dir, 'ca.pem');
  await fetchesAll(t, env);
});

let stores = 0;
/** The environment with a fresh level:// store of its own. */
function withStore(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, TSIX_STORE: `level://${join(dir, `store-${++stores}`)}` };
}

test('builtin:fetchurl over https trusts TSIX_EXTRA_CA_CERTS, and fails without it', async (t) => {
  const expr = `import <nix/fetchurl.nix> { url = "${base}/redirect/1"; sha256 = "${HELLO_SHA256}"; }`;
  const ok = await run(MAIN, ['build', '--no-out-link', '-E', expr], withStore(caEnv()));
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout.toString(), /^\/nix\/store\/[0-9a-z]{32}-1\n$/);
  const bad = await run(MAIN, ['build', '--no-out-link', '-E', expr], withStore(caEnv(null)));
  t.not(bad.code, 0);
  t.regex(bad.stderr, /unable to download '.*': fetch failed/);
});

test('an https binary cache trusts TSIX_EXTRA_CA_CERTS, and fails without it', async (t) => {
  const src = withStore(caEnv());
  writeFileSync(join(dir, 'payload'), `payload ${HELLO_SHA256}\n`);
  const add = await run(MAIN, ['store', 'add', join(dir, 'payload')], src);
  t.is(add.code, 0, add.stderr);
  const path = add.stdout.toString().trim();
  const up = await run(MAIN, ['copy', '--to', `file://${join(dir, 'www', 'cache')}`, path], src);
  t.is(up.code, 0, up.stderr);
  const from = ['copy', '--no-check-sigs', '--from', `${base}/cache`, path];
  const dst = withStore(caEnv());
  const ok = await run(MAIN, from, dst);
  t.is(ok.code, 0, ok.stderr);
  const info = await run(MAIN, ['path-info', path], dst);
  t.is(info.stdout.toString().trim(), path, info.stderr);
  const bad = await run(MAIN, from, withStore(caEnv(null)));
  t.not(bad.code, 0);
  t.regex(bad.stderr, CERT_ERROR);
});
