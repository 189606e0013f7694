// builtins.fetchurl / fetchTarball at evaluation time against real Nix 2.8, both downloading from
// a server on 127.0.0.1 (run in a worker: tsix's synchronous download blocks this thread).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InstantiationSession } from '../../eval/derivation/session.js';
import { parseHash } from '../../store/nix/hash.js';
import { openStore } from '../../store/open-store.js';
import { nix, nixErrors, nixOk, repoFile } from './nix-oracle.js';

const SERVER = `
const { workerData, parentPort } = require('node:worker_threads');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const server = http.createServer((req, res) => {
  const file = path.join(workerData.root, decodeURIComponent(req.url.split('?')[0]));
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, { 'content-length': data.length });
    res.end(data);
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

let root = '';
let worker: Worker | null = null;
let base = '';

test.before(async () => {
  root = mkdtempSync(join(tmpdir(), 'tsix-fetch-test-'));
  writeFileSync(join(root, 'hello.txt'), 'hello from the test server\n');
  mkdirSync(join(root, 'pkg-1.0'));
  writeFileSync(join(root, 'pkg-1.0', 'README'), 'readme\n');
  writeFileSync(join(root, 'pkg-1.0', 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  execFileSync('tar', ['-czf', join(root, 'pkg.tar.gz'), '-C', root, 'pkg-1.0']);
  execFileSync('tar', ['-cJf', join(root, 'pkg.tar.xz'), '-C', root, 'pkg-1.0']);
  worker = new Worker(SERVER, { eval: true, workerData: { root } });
  const port = await new Promise<number>((resolve) => worker!.once('message', resolve));
  base = `http://127.0.0.1:${port}`;
});

test.after.always(async () => {
  if (worker) { worker.postMessage('stop'); await worker.terminate(); }
  if (root) rmSync(root, { recursive: true, force: true });
});

async function nixEval(expr: string): Promise<string> {
  return JSON.parse(await nixOk('nix-instantiate', ['--eval', '--json', '-E', expr])) as string;
}

test('builtins.fetchurl gives Nix\'s store path and stores the file', async (t) => {
  const want = await nixEval(`builtins.fetchurl "${base}/hello.txt"`);
  const s = new InstantiationSession();
  const got = s.fetchurl(`${base}/hello.txt`, null, null);
  t.is(got, want);
  const store = await openStore('memory://');
  try {
    await s.flush(store);
    const info = (await store.pathInfos.get(got.slice(11, 43)))!;
    t.is(info.ca, JSON.parse(await nixOk('nix', ['path-info', '--json', want]))[0].ca);
  } finally {
    await store.close();
  }
});

test('builtins.fetchurl with name and sha256, and a mismatch', async (t) => {
  const sha = (await nixOk('nix-hash', ['--type', 'sha256', '--flat', '--base32', join(root, 'hello.txt')])).trim();
  const want = await nixEval(`builtins.fetchurl { url = "${base}/hello.txt"; name = "renamed"; sha256 = "${sha}"; }`);
  t.is(new InstantiationSession().fetchurl(`${base}/hello.txt`, 'renamed', parseHash(sha, 'sha256')), want);
  const wrong = '0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59';
  const r = await nix('nix-instantiate', ['--eval', '-E', `builtins.fetchurl { url = "${base}/hello.txt"; name = "wrong"; sha256 = "${wrong}"; }`]);
  t.regex(nixErrors(r.stderr), /hash mismatch in file downloaded from/);
  const e = t.throws(() => new InstantiationSession().fetchurl(`${base}/hello.txt`, 'wrong', parseHash(wrong, 'sha256')));
  t.regex(e!.message, new RegExp(`hash mismatch in file downloaded from '${base}/hello.txt':\\n  specified: sha256:${wrong}\\n  got:       sha256:${sha}`));
});

test('builtins.fetchTarball (gzip and xz) gives Nix\'s store path', async (t) => {
  for (const f of ['pkg.tar.gz', 'pkg.tar.xz']) {
    const want = await nixEval(`builtins.fetchTarball "${base}/${f}"`);
    const s = new InstantiationSession();
    t.is(s.fetchTarball(`${base}/${f}`, null, null), want, f);
    const store = await openStore('memory://');
    try { await s.flush(store); } finally { await store.close(); }
  }
});

test('a missing URL fails in both', async (t) => {
  const r = await nix('nix-instantiate', ['--eval', '-E', `builtins.fetchurl "${base}/missing"`]);
  t.not(r.code, 0);
  const e = t.throws(() => new InstantiationSession().fetchurl(`${base}/missing`, null, null));
  t.regex(e!.message, /unable to download '.*\/missing': HTTP error 404/);
  t.truthy(repoFile('package.json'));
});

test('tsix instantiate with an eval-time fetch gives nix-instantiate\'s .drv', async (t) => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { fileURLToPath } = await import('node:url');
  const main = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
  const expr = `derivation { name = "uses-fetch"; system = "x"; builder = "/bin/sh"; src = builtins.fetchurl "${base}/hello.txt"; tb = builtins.fetchTarball { url = "${base}/pkg.tar.gz"; name = "pkg"; }; }`;
  const want = await nixOk('nix-instantiate', ['-E', expr]);
  const dir = mkdtempSync(join(tmpdir(), 'tsix-fetch-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const got = await promisify(execFile)(process.execPath, [main, '--store', `level://${dir}`, 'instantiate', '-E', expr], { encoding: 'utf8' });
  t.is(got.stdout, want);
});
