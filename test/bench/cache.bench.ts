// Binary cache benchmark (`npm run bench:cache`), on one ~500 MiB closure built by real Nix
// (TSIX_BENCH_CACHE_MIB to change the size, TSIX_BENCH_COMPRESSION=none|zstd|xz for the static cache):
//   A. real `nix-store -r` from the tsix server      vs  B. from the static cache (python3 -m http.server)
//   C. `tsix copy --from` the static cache           vs  D. real `nix-store -r` from the static cache
// Prints times (median of TSIX_BENCH_RUNS, default 3) and ratios reference/tsix (≥ 1.0: tsix as fast or faster).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openStore } from '../../store/open-store.js';
import { serveBinaryCache } from '../../daemon/http/binary-cache-server.js';
import { FileBinaryCache } from '../../store/cache/file-cache.js';
import { parsePublicKey, generateKeyPair, parseSecretKey } from '../../store/cache/signing.js';
import { substituteClosure } from '../../store/cache/substitute.js';

const execFileP = promisify(execFile);
const CLI = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
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

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'tsix-bench-cache-'));
  const children: ChildProcess[] = [];
  let closure: string[] = [];
  let drvs: string[] = [];
  try {
    // 1. A fresh closure: 5 chained paths of MIB/5 MiB each, random 4 MiB files.
    const r = `${Date.now()}`;
    const per = Math.max(1, Math.round(MIB / 5 / 4));
    await writeFile(join(work, 'c.nix'), `let mk = name: dep: derivation { inherit name; system = builtins.currentSystem; builder = "/bin/sh";
  args = ["-c" "mkdir $out; echo \${dep} > $out/dep; i=0; while [ $i -lt ${per} ]; do head -c 4194304 /dev/urandom > $out/f$i; i=$((i+1)); done"]; };
  p1 = mk "bench-1-${r}" ""; p2 = mk "bench-2-${r}" p1; p3 = mk "bench-3-${r}" p2; p4 = mk "bench-4-${r}" p3; in mk "bench-5-${r}" p4
`);
    process.stderr.write(`building a ${MIB} MiB closure with Nix...\n`);
    const drv = (await sh('nix-instantiate', [join(work, 'c.nix')])).trim();
    drvs = (await sh('nix-store', ['-qR', drv])).trim().split('\n').filter((p) => p.includes(r));
    const top = (await sh('nix-store', ['-r', drv, '--option', 'sandbox-paths', '/bin/sh=/bin/busybox'])).trim();
    closure = (await sh('nix-store', ['-qR', top])).trim().split('\n');
    const keys = generateKeyPair('bench-key');
    await writeFile(join(work, 'key.sec'), keys.secret);
    const cacheDir = join(work, 'static');
    process.stderr.write(`writing the static cache (compression=${COMPRESSION})...\n`);
    await sh('nix', ['copy', '--to', `file://${cacheDir}?compression=${COMPRESSION}&secret-key=${join(work, 'key.sec')}`, top]);

    // 2. The tsix server, over a level store filled from the static cache.
    const served = await openStore(`level://${join(work, 'served')}`, { direct: true });
    await substituteClosure(served, [new FileBinaryCache(`file://${cacheDir}`)], [top], [parsePublicKey(keys.public)]);
    const srv = await serveBinaryCache(served, { listen: '127.0.0.1:0', secretKey: parseSecretKey(keys.secret) });

    // 3. The static cache on loopback.
    const port = 20000 + Math.floor(Math.random() * 20000);
    const py = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', cacheDir], { stdio: 'ignore' });
    children.push(py);
    const staticUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 50; i++) {
      if (await sh('curl', ['-sf', `${staticUrl}/nix-cache-info`], process.env).then(() => true, () => false)) break;
      await new Promise((res) => setTimeout(res, 100));
    }

    const deleteFromNix = async () => { for (const p of [...closure].reverse()) await sh('nix-store', ['--delete', p]).catch(() => {}); };
    const nixFrom = (url: string) => sh('nix-store', ['-r', top, '--option', 'substituters', url, '--option', 'trusted-public-keys', keys.public]);

    const times = { A: [] as number[], B: [] as number[], C: [] as number[], D: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      await deleteFromNix();
      times.A.push(await timed(() => nixFrom(srv.url)));
      await deleteFromNix();
      times.B.push(await timed(() => nixFrom(staticUrl)));
      await deleteFromNix();
      times.D.push(await timed(() => nixFrom(staticUrl)));
      const dest = `level://${join(work, `dest-${i}`)}`;
      times.C.push(await timed(() => sh(process.execPath, [CLI, '--store', dest, 'copy', '-q', '--from', staticUrl, '--trusted-public-key', keys.public, top], process.env)));
      await rm(join(work, `dest-${i}`), { recursive: true, force: true });
    }
    await srv.close();
    await served.close();

    const m = { A: median(times.A), B: median(times.B), C: median(times.C), D: median(times.D) };
    const mibs = (s: number) => (MIB / s).toFixed(0);
    const out = [
      `cache benchmark: ${closure.length} paths, ${MIB} MiB, static cache compression=${COMPRESSION}, median of ${RUNS} runs`,
      `A nix-store -r from tsix server          ${m.A.toFixed(2)} s  (${mibs(m.A)} MiB/s)`,
      `B nix-store -r from static http cache    ${m.B.toFixed(2)} s  (${mibs(m.B)} MiB/s)`,
      `  ratio B/A (serving; >= 1.0 is goal)    ${(m.B / m.A).toFixed(2)}`,
      `C tsix copy --from static http cache     ${m.C.toFixed(2)} s  (${mibs(m.C)} MiB/s)`,
      `D nix-store -r from static http cache    ${m.D.toFixed(2)} s  (${mibs(m.D)} MiB/s)`,
      `  ratio D/C (substituting; >= 1.0 goal)  ${(m.D / m.C).toFixed(2)}`,
      `raw: ${JSON.stringify(times)}`,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    for (const c of children) c.kill();
    await sh('nix-store', ['--delete', ...closure, ...drvs]).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; });
