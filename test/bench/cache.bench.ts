// Binary cache benchmark (`npm run bench:cache`), on closures built by real Nix, fresh each run:
// (the tsix server is `npm start -- --no-mount --listen …`: a `tsix daemon` process started as daemon/start.sh starts it)
//   big:   5 chained paths, ~500 MiB of random 4 MiB files (TSIX_BENCH_CACHE_MIB to change the size)
//   small: 301 text paths, ~17 MiB in all (per-path overhead)
// and for each:
//   A. real `nix-store -r` from the tsix server      vs  B. from the static cache (python3's http.server
//      with HTTP/1.1 keep-alive and a listen backlog of 128: `-m http.server` answers HTTP/1.0 with a
//      backlog of 5, and parallel clients then wait out 1 s SYN retransmits, whoever the client is)
//   C. `tsix copy --from` the static cache           vs  D. real `nix-store -r` from the static cache
// The static cache is written by `nix copy` (TSIX_BENCH_COMPRESSION=none|zstd|xz, default none).
// Prints medians of TSIX_BENCH_RUNS (default 3) and ratios reference/tsix (>= 1.0: tsix as fast or faster).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openStore } from '../../store/open-store.js';
import { FileBinaryCache } from '../../store/cache/file-cache.js';
import { parsePublicKey, generateKeyPair } from '../../store/cache/signing.js';
import { substituteClosure } from '../../store/cache/substitute.js';
import { TSIX_BIN } from './bench-util.js';

const execFileP = promisify(execFile);
/** daemon/start.sh (`npm start`), from the compiled benchmark in dist/test/bench. */
const START = fileURLToPath(new URL('../../../daemon/start.sh', import.meta.url));
const MIB = Number(process.env.TSIX_BENCH_CACHE_MIB ?? 500);
const RUNS = Number(process.env.TSIX_BENCH_RUNS ?? 3);
const COMPRESSION = process.env.TSIX_BENCH_COMPRESSION ?? 'none';
const NIX_ENV = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =\nsandbox-fallback = false\nnarinfo-cache-negative-ttl = 0' };

async function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = NIX_ENV): Promise<string> {
  try {
    return String((await execFileP(cmd, args, { env, maxBuffer: 1 << 28 })).stdout);
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A static file server: python's, threaded, keep-alive, with a backlog parallel clients fit in. */
const STATIC_SERVER = `
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True
    def log_message(self, *args): pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
Server(('127.0.0.1', int(sys.argv[1])), functools.partial(Handler, directory=sys.argv[2])).serve_forever()
`;

interface Built { top: string; closure: string[]; garbage: string[]; mib: number }

/** Chained derivations of random 4 MiB files. */
async function buildBig(work: string, r: string): Promise<Built> {
  const per = Math.max(1, Math.round(MIB / 5 / 4));
  const expr = join(work, 'big.nix');
  await writeFile(expr, `let mk = name: dep: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh";
  args = ["-c" "mkdir $out; echo \${dep} > $out/dep; i=0; while [ $i -lt ${per} ]; do head -c 4194304 /dev/urandom > $out/f$i; i=$((i+1)); done"]; };
  p1 = mk "bench-1-${r}" ""; p2 = mk "bench-2-${r}" p1; p3 = mk "bench-3-${r}" p2; p4 = mk "bench-4-${r}" p3; in mk "bench-5-${r}" p4
`);
  const drv = (await sh('nix-instantiate', [expr])).trim();
  const drvs = (await sh('nix-store', ['-qR', drv])).trim().split('\n').filter((p) => p.includes(r));
  const top = (await sh('nix-store', ['-r', drv, '--option', 'sandbox-paths', '/bin/sh=/bin/busybox'])).trim();
  const closure = (await sh('nix-store', ['-qR', top])).trim().split('\n');
  return { top, closure, garbage: [...closure, ...drvs], mib: per * 4 * 5 };
}

/** 300 text files of ~57 KiB and a top file naming them all. */
async function buildSmall(work: string, r: string): Promise<Built> {
  const expr = join(work, 'small.nix');
  await writeFile(expr, `let r = "${r}"; lib = builtins;
  mk = i: lib.toFile "bench-s-\${toString i}-\${r}" (lib.concatStringsSep "" (lib.genList (j: "\${r}-\${toString i}-\${toString j} ") 3000));
in lib.toFile "bench-s-top-\${r}" (lib.concatStringsSep "\\n" (lib.genList mk 300))
`);
  const top = (await sh('nix-instantiate', ['--eval', '--read-write-mode', expr])).trim().replace(/^"|"$/g, '');
  const closure = (await sh('nix-store', ['-qR', top])).trim().split('\n');
  return { top, closure, garbage: closure, mib: 17 };
}

interface Times { A: number[]; B: number[]; C: number[]; D: number[] }

/** `npm start -- --store URL --no-mount --listen 127.0.0.1:0 …` (daemon/start.sh), once it says where it serves. */
async function startDaemon(storeUrl: string, secretKeyFile: string, children: ChildProcess[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const d = spawn('bash', [START, '--store', storeUrl, '--no-mount', '--listen', '127.0.0.1:0', '--secret-key', secretKeyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(d);
  const exited = new Promise<void>((res) => d.once('exit', () => res()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    d.stdout!.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      const m = /serving a binary cache at (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`tsix daemon exited before serving: ${out}`)));
  });
  return { url, stop: async () => { d.kill('SIGTERM'); await exited; } };
}

async function scenario(name: string, work: string, built: Built, children: ChildProcess[]): Promise<string[]> {
  const { top, closure } = built;
  const keys = generateKeyPair('bench-key');
  await writeFile(join(work, 'key.sec'), keys.secret);
  const cacheDir = join(work, `static-${name}`);
  process.stderr.write(`${name}: writing the static cache (compression=${COMPRESSION})...\n`);
  await sh('nix', ['copy', '--to', `file://${cacheDir}?compression=${COMPRESSION}&secret-key=${join(work, 'key.sec')}`, top]);

  const servedUrl = `level://${join(work, `served-${name}`)}`;
  const served = await openStore(servedUrl, { direct: true });
  try {
    await substituteClosure(served, [new FileBinaryCache(`file://${cacheDir}`)], [top], [parsePublicKey(keys.public)]);
  } finally {
    await served.close();
  }
  const srv = await startDaemon(servedUrl, join(work, 'key.sec'), children);

  const port = 20000 + Math.floor(Math.random() * 20000);
  const py = spawn('python3', ['-c', STATIC_SERVER, String(port), cacheDir], { stdio: 'ignore' });
  children.push(py);
  const staticUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (await sh('curl', ['-sf', `${staticUrl}/nix-cache-info`], process.env).then(() => true, () => false)) break;
    await new Promise((res) => setTimeout(res, 100));
  }

  const deleteFromNix = () => sh('nix-store', ['--delete', ...closure]).catch(() => '');
  const nixFrom = (url: string) => sh('nix-store', ['-r', top, '--option', 'substituters', url, '--option', 'trusted-public-keys', keys.public]);
  const times: Times = { A: [], B: [], C: [], D: [] };
  try {
    for (let i = 0; i < RUNS; i++) {
      process.stderr.write(`${name}: run ${i + 1}/${RUNS}\n`);
      await deleteFromNix();
      times.A.push(await timed(() => nixFrom(srv.url)));
      await deleteFromNix();
      times.B.push(await timed(() => nixFrom(staticUrl)));
      await deleteFromNix();
      times.D.push(await timed(() => nixFrom(staticUrl)));
      const dest = join(work, `dest-${name}-${i}`);
      times.C.push(await timed(() => sh(TSIX_BIN, ['--store', `level://${dest}`, 'copy', '-q', '--from', staticUrl, '--trusted-public-key', keys.public, top], process.env)));
      await rm(dest, { recursive: true, force: true });
    }
  } finally {
    py.kill();
    await srv.stop();
  }
  const m = { A: median(times.A), B: median(times.B), C: median(times.C), D: median(times.D) };
  const rate = (s: number) => `${(built.mib / s).toFixed(0)} MiB/s`;
  return [
    `${name}: ${closure.length} paths, ~${built.mib} MiB, static cache compression=${COMPRESSION}, median of ${RUNS} runs`,
    `  A nix-store -r from tsix server          ${m.A.toFixed(2)} s  (${rate(m.A)})`,
    `  B nix-store -r from static http cache    ${m.B.toFixed(2)} s  (${rate(m.B)})`,
    `    ratio B/A (serving; goal >= 1.0)       ${(m.B / m.A).toFixed(2)}`,
    `  C tsix copy --from static http cache     ${m.C.toFixed(2)} s  (${rate(m.C)})`,
    `  D nix-store -r from static http cache    ${m.D.toFixed(2)} s  (${rate(m.D)})`,
    `    ratio D/C (substituting; goal >= 1.0)  ${(m.D / m.C).toFixed(2)}`,
    `  raw seconds: ${JSON.stringify(times, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(3)) : v))}`,
  ];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'tsix-bench-cache-'));
  const children: ChildProcess[] = [];
  const garbage: string[] = [];
  const lines: string[] = [];
  try {
    const r = `${Date.now()}`;
    process.stderr.write(`building the closures with Nix...\n`);
    const big = await buildBig(work, r);
    garbage.push(...big.garbage);
    const small = await buildSmall(work, r);
    garbage.push(...small.garbage);
    lines.push(...await scenario('big', work, big, children));
    lines.push(...await scenario('small', work, small, children));
    const load = (await sh('cat', ['/proc/loadavg'], process.env)).split(' ').slice(0, 3).join(' ');
    lines.push(`load average at the end: ${load} (ratios on a busy machine are noisy)`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const c of children) c.kill();
    await sh('nix-store', ['--delete', ...garbage]).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
