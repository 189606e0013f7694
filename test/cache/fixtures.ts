// Fixtures for binary cache tests: fresh Nix closures with random contents (so they are never
// already in /nix/store), Nix-written caches, and tsix-only paths.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NIX_ENV } from '../helpers/nix.js';
import { ingestPath } from '../../store/import/ingest.js';
import { formatHash, sha256 } from '../../store/nix/hash.js';
import { makeStorePath, makeTextPath } from '../../store/nix/store-path.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';

const execFileP = promisify(execFile);

export async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = NIX_ENV): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { env, maxBuffer: 1 << 28 });
    return String(stdout);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

/** Runs a command expected to fail; its stderr. */
export async function runFails(cmd: string, args: string[], env: NodeJS.ProcessEnv = NIX_ENV): Promise<string> {
  try {
    await execFileP(cmd, args, { env, maxBuffer: 1 << 28 });
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? '');
  }
  throw new Error(`${cmd} ${args.join(' ')} succeeded but was expected to fail`);
}

export interface Scratch { dir: string; cleanup(): Promise<void> }

export async function scratch(prefix = 'tsix-cache-'): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A Nix key pair written by nix-store --generate-binary-cache-key. */
export async function nixKeyPair(dir: string, name: string): Promise<{ secretFile: string; publicFile: string; secret: string; public: string }> {
  const secretFile = join(dir, `${name}.sec`);
  const publicFile = join(dir, `${name}.pub`);
  await run('nix-store', ['--generate-binary-cache-key', name, secretFile, publicFile]);
  return { secretFile, publicFile, secret: await readFile(secretFile, 'utf8'), public: await readFile(publicFile, 'utf8') };
}

/**
 * Builds a fresh closure with real Nix: top → dep (input-addressed) → a text file (content-addressed),
 * plus `bigBytes` random bytes in dep. Returns the paths, top first.
 */
export async function buildNixClosure(dir: string, bigBytes = 0): Promise<{ top: string; dep: string; text: string; all: string[]; cleanup: string[] }> {
  const r = randomBytes(8).toString('hex');
  const expr = join(dir, `closure-${r}.nix`);
  await writeFile(expr, `let r = "${r}"; a = builtins.toFile "a-\${r}" "hello \${r}";
dep = derivation { name = "dep-\${r}"; system = builtins.currentSystem; builder = "/bin/sh";
  args = ["-c" "mkdir $out; echo \${r} \${a} $out > $out/ref; head -c ${bigBytes} /dev/urandom > $out/big; ln -s ref $out/link"]; };
in derivation { name = "top-\${r}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo \${dep} > $out"]; }
`);
  const drv = (await run('nix-instantiate', [expr])).trim();
  const top = (await run('nix-store', ['-r', drv, '--option', 'sandbox-paths', '/bin/sh=/bin/busybox'])).trim();
  const all = (await run('nix-store', ['-qR', top])).trim().split('\n');
  const dep = all.find((p) => p.includes('-dep-'))!;
  const text = all.find((p) => p.includes('-a-'))!;
  const drvs = (await run('nix-store', ['-qR', drv])).trim().split('\n').filter((p) => p.includes(r));
  return { top, dep, text, all, cleanup: [...new Set([...all, ...drvs])] };
}

/** Deletes paths from the real /nix/store (Nix orders a set itself); ignores ones already gone. */
export async function nixDelete(paths: string[]): Promise<void> {
  const present: string[] = [];
  for (const p of paths) if (await nixHas(p)) present.push(p);
  if (present.length === 0) return;
  await execFileP('nix-store', ['--delete', ...present], { env: NIX_ENV }).catch(async () => {
    for (const p of present) await execFileP('nix-store', ['--delete', p], { env: NIX_ENV }).catch(() => {});
  });
}

/** Whether real Nix has a path. */
export async function nixHas(path: string): Promise<boolean> {
  return execFileP('nix-store', ['--check-validity', path], { env: NIX_ENV }).then(() => true, () => false);
}

/** `nix path-info --json` of paths. */
export async function nixPathInfo(paths: string[], store?: string): Promise<Array<{ path: string; narHash: string; narSize: number; references: string[]; signatures?: string[]; ca?: string; deriver?: string }>> {
  return JSON.parse(await run('nix', ['path-info', '--json', ...(store ? ['--store', store] : []), ...paths]));
}

/** A content-addressed text path made in a tsix store (as builtins.toFile would), referring to `refs`. */
export async function tsixTextPath(store: Store, dir: string, name: string, contents: string, refs: string[] = []): Promise<PathInfo> {
  const file = join(dir, `f-${randomBytes(6).toString('hex')}`);
  await writeFile(file, contents);
  const ing = await ingestPath(store, file);
  const digest = sha256(contents);
  const info: PathInfo = {
    path: makeTextPath(name, digest, refs),
    node: { ...ing.node, name: '' } as PathInfo['node'],
    narHash: ing.narHash, narSize: ing.narSize, references: [...refs].sort(), deriver: null, signatures: [],
    ca: `text:${formatHash({ algo: 'sha256', digest }, 'base32', true)}`, registrationTime: Math.floor(Date.now() / 1000),
  };
  await store.pathInfos.put(info);
  return info;
}

/** An input-addressed-looking path (no ca) in a tsix store: only a signature can make it trusted. */
export async function tsixOpaquePath(store: Store, dir: string, name: string, contents: string | Buffer, refs: string[] = []): Promise<PathInfo> {
  const file = join(dir, `f-${randomBytes(6).toString('hex')}`);
  await writeFile(file, contents);
  const ing = await ingestPath(store, file);
  const info: PathInfo = {
    path: makeStorePath('output:out', randomBytes(32).toString('hex'), name),
    node: { ...ing.node, name: '' } as PathInfo['node'],
    narHash: ing.narHash, narSize: ing.narSize, references: [...refs].sort(), deriver: null, signatures: [], ca: null,
    registrationTime: Math.floor(Date.now() / 1000),
  };
  await store.pathInfos.put(info);
  return info;
}

/**
 * A proxy to the cache at `upstream`: answers other than NARs pass through; NARs go to `nar`
 * (given the upstream answer), by default cut off halfway while keeping the full Content-Length.
 */
export function narProxy(upstream: string, nar: (up: http.IncomingMessage, res: http.ServerResponse) => void = cutHalfway): http.Server {
  return http.createServer((req, res) => {
    http.get(`${upstream}${req.url}`, (up) => {
      if (!req.url!.startsWith('/nar/')) { res.writeHead(up.statusCode!, up.headers); up.pipe(res); return; }
      nar(up, res);
    });
  });
}

function cutHalfway(up: http.IncomingMessage, res: http.ServerResponse): void {
  const total = Number(up.headers['content-length']);
  res.writeHead(200, { 'content-length': total });
  let sent = 0;
  up.on('data', (c: Buffer) => {
    if (sent >= total / 2) { res.destroy(); up.destroy(); return; }
    sent += c.length;
    res.write(c);
  });
  // A NAR that came in one piece went through whole: its answer must end, or the client's
  // next request on this kept-alive connection waits for it (until its idle timeout).
  up.on('end', () => { if (!res.destroyed) res.end(); });
}
