// builtins.fetchurl / builtins.fetchTarball at evaluation time. Evaluation is synchronous, so the
// download runs in a worker thread while this thread waits on an Atomics flag; the body comes
// back through a temporary file.
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// child_process, os and worker_threads are loaded on first use: every evaluation imports this
// module, few fetch anything.
const require = createRequire(import.meta.url);
const tmpdir = (): string => (require('node:os') as typeof import('node:os')).tmpdir();
import { TsixError } from '../../store/errors.js';
import { caForUrl } from '../../store/cache/tls-ca.js';

/** A download that failed (code E_FETCH). */
export class FetchError extends TsixError {
  constructor(url: string, message: string) {
    super('E_FETCH', `unable to download '${url}': ${message}`, { url });
  }
}

/** What the worker downloads with while extra CAs are in effect: global fetch cannot take them (tls-ca.ts). */
const HTTPS_GET = new URL('../../store/cache/https-get.js', import.meta.url).href;

const WORKER = `
const { workerData } = require('node:worker_threads');
const { writeFileSync } = require('node:fs');
const { url, file, flag, ca, httpsGetModule } = workerData;
const state = new Int32Array(flag);
async function viaFetch() {
  const res = await fetch(url, { redirect: 'follow' });
  if (!res.ok) throw new Error('HTTP error ' + res.status);
  return Buffer.from(await res.arrayBuffer());
}
(async () => {
  try {
    const body = ca ? await (await import(httpsGetModule)).httpsGet(url, ca) : await viaFetch();
    writeFileSync(file, body);
    Atomics.store(state, 0, 1);
  } catch (e) {
    writeFileSync(file, String(e && e.cause ? e.cause.message || e.message : e && e.message || e));
    Atomics.store(state, 0, 2);
  }
  Atomics.notify(state, 0);
})();
`;

/** Downloads a URL (http, https or file) synchronously; returns the body. */
export function downloadSync(url: string): Buffer {
  if (url.startsWith('file://')) {
    try {
      return readFileSync(new URL(url));
    } catch (e) {
      throw new FetchError(url, (e as Error).message);
    }
  }
  if (!/^https?:\/\//.test(url)) throw new FetchError(url, 'unsupported URL scheme (http, https and file are supported)');
  const dir = mkdtempSync(join(tmpdir(), 'tsix-fetch-'));
  try {
    const file = join(dir, 'body');
    const flag = new SharedArrayBuffer(4);
    const state = new Int32Array(flag);
    const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
    const w = new Worker(WORKER, { eval: true, workerData: { url, file, flag, ca: caForUrl(url), httpsGetModule: HTTPS_GET } });
    w.unref();
    while (Atomics.load(state, 0) === 0) Atomics.wait(state, 0, 0, 1000);
    const body = readFileSync(file);
    void w.terminate();
    if (Atomics.load(state, 0) === 2) throw new FetchError(url, body.toString('utf8'));
    return body;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Unpacks a tarball (gzip, xz, bzip2, zstd or plain; by content, using tar) into a new temporary
 * directory and returns it with its single top-level entry, as Nix's downloadTarball requires.
 */
export function unpackTarball(url: string, data: Buffer): { tmpDir: string; top: string } {
  const tmpDir = mkdtempSync(join(tmpdir(), 'tsix-unpack-'));
  const archive = join(tmpDir, '.archive');
  const out = join(tmpDir, 'x');
  try {
    mkdirSync(out);
    writeFileSync(archive, data);
    const magic = data.subarray(0, 6);
    const filter = magic[0] === 0x1f && magic[1] === 0x8b ? '-z'
      : magic.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ? '-J'
        : magic[0] === 0x42 && magic[1] === 0x5a && magic[2] === 0x68 ? '-j'
          : magic.readUInt32LE(0) === 0xfd2fb528 ? '--zstd' : null;
    (require('node:child_process') as typeof import('node:child_process')).execFileSync('tar', ['-x', ...(filter ? [filter] : []), '-f', archive, '-C', out, '--no-same-owner', '--no-same-permissions'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const members = readdirSync(out);
    if (members.length !== 1) throw new FetchError(url, `tarball contains an unexpected number of top-level files (${members.length})`);
    return { tmpDir, top: join(out, members[0]!) };
  } catch (e) {
    rmSync(tmpDir, { recursive: true, force: true });
    if (e instanceof FetchError) throw e;
    throw new FetchError(url, `cannot unpack: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`);
  }
}
