// npm run bench:oci — trivial builds (busybox `echo > $out`) through the OCI backend, 50 one after
// another and 50 two at a time, against the same builds in Nix 2.8's sandbox (`nix-store
// --realise` of pre-instantiated derivations) and against bare `runc run` of a fixed bundle
// (the floor: what runc itself costs).
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildRequest, BuildService } from '../../builder/build-service.js';
import { createOciBuildService } from '../../builder/oci/oci-build-service.js';
import { runtimeSpec } from '../../builder/oci/runtime-spec.js';
import { NIX_ENV } from '../helpers/nix.js';
import { median, report } from './bench-util.js';

const N = Number(process.env.BENCH_BUILDS ?? 50);
const STORE = '/nix/store';
const BB = 'q3v4nq0l7a2s1c8x5bm6bkdd4ryz9fwh-busybox';

function request(src: string, i: number): BuildRequest {
  const out = `${STORE}/${String(i).padStart(32, '0')}-out`;
  return {
    command: `${STORE}/${BB}/bin/busybox`, args: ['sh', '-c', 'echo hello > $out'], env: { out },
    storeDir: STORE, inputSource: src, inputs: [`${STORE}/${BB}`], outputs: [out],
    workingDir: '/build', scratchPaths: [], network: false, shell: null, needles: [BB.slice(0, 32)],
  };
}

async function oneBuild(svc: BuildService, req: BuildRequest, logDir: string): Promise<void> {
  const r = await svc.build(req, { logDir });
  await r.release();
  if (r.exitCode !== 0) throw new Error(`benchmark build failed: ${r.logTail.join('\n')}`);
}

/** Wall-clock milliseconds per build, running `n` builds `parallel` at a time. */
async function timeBuilds(n: number, parallel: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) await one(next++);
  }));
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

/** The median milliseconds of `n` builds run one after another (robust to a noisy machine). */
async function medianBuild(n: number, one: (i: number) => Promise<void> | void): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await one(i);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
}

async function nixDrvs(dir: string, n: number, tag: string): Promise<string[]> {
  const expr = join(dir, 'trivial.nix');
  const text = `builtins.genList (i: derivation { name = "oci-bench-${tag}-\${toString i}"; system = builtins.currentSystem;
    builder = "/bin/sh"; args = [ "-c" "echo hello > $out" ]; }) ${n}`;
  await writeFile(expr, text);
  const r = spawnSync('nix-instantiate', [expr], { env: NIX_ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nix-instantiate: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

function nixRealise(drv: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = spawnSync('nix-store', ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox', '--realise', drv], { env: NIX_ENV, encoding: 'utf8' });
    if (r.status === 0) resolve(); else reject(new Error(`nix-store --realise ${drv}: ${r.stderr}`));
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-bench-oci-'));
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  const logDir = join(dir, 'logs');
  await mkdir(join(src, BB, 'bin'), { recursive: true, mode: 0o755 });
  await copyFile('/bin/busybox', join(src, BB, 'bin/busybox'));
  await mkdir(logDir);
  const stateDir = join(dir, 'state');
  const svc = await createOciBuildService({ stateDir });
  try {
    await oneBuild(svc, request(src, 0), logDir); // creates the rootfs once
    const seq = await medianBuild(N, (i) => oneBuild(svc, request(src, i), logDir));
    const seqWall = await timeBuilds(N, 1, (i) => oneBuild(svc, request(src, i), logDir));
    const par = await timeBuilds(N, 2, (i) => oneBuild(svc, request(src, i), logDir));

    // Bare runc: one fixed bundle with the same config, run N times.
    const bundle = join(dir, 'bare');
    const rootfs = join(stateDir, 'rootfs', (await readdir(join(stateDir, 'rootfs'))).find((n) => !n.startsWith('.'))!);
    await mkdir(join(bundle, 'store'), { recursive: true });
    await mkdir(join(bundle, 'build'));
    await chmod(bundle, 0o755);
    spawnSync('chown', ['-R', `${0x6f000000 + 1000}:${0x6f000000 + 100}`, join(bundle, 'store'), join(bundle, 'build')]);
    const req = request(src, 0);
    await writeFile(join(bundle, 'config.json'), JSON.stringify(runtimeSpec(req, {
      rootfs, storeHost: join(bundle, 'store'), workHost: join(bundle, 'build'), scratchHosts: [], hostIdBase: 0x6f000000, cgroupsPath: '/tsix/tsix-bench-bare', networkEtc: [], limitSwap: true,
    })));
    const outHost = join(bundle, 'store', req.outputs[0]!.slice(STORE.length + 1));
    const bare = await medianBuild(N, () => {
      spawnSync('rm', ['-f', outHost]);
      const r = spawnSync('runc', ['run', '--bundle', bundle, `tsix-bench-bare-${process.pid}`], { stdio: 'ignore' });
      if (r.status !== 0) throw new Error('bare runc run failed');
    });

    const nixN = Math.min(N, 20);
    const drvs = await nixDrvs(dir, nixN, `${process.pid}-${Date.now()}`);
    const nixSeq = await medianBuild(nixN, (i) => nixRealise(drvs[i]!));

    console.log(`${N} trivial builds (busybox sh -c 'echo hello > $out'), ms per build (median of sequential builds; nix: ${nixN} builds)`);
    report('oci, sequential (median)', seq, nixSeq, 'nix-store --realise');
    report('oci, sequential (wall/build)', seqWall, nixSeq, 'nix-store --realise');
    report('oci, 2 at a time (wall/build)', par, nixSeq, 'nix-store --realise');
    report('oci vs bare `runc run` of one bundle', seq, bare, 'runc run');
  } finally {
    await svc.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
