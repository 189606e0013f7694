// npm run bench:cri — trivial builds (busybox `echo > $out`) through the CRI backend (containerd,
// started by test/setup/cri-up.sh) against the same builds through the OCI backend (runc): 50 two
// at a time (wall clock per build) and 50 one after another (median latency). The difference is
// what a pod, its container and the CRI round trips cost per build. The CRI backend runs as
// configured by default, and with prewarm=1 (each build's pod started during the previous build).
// Then bench:build's 50-derivation graph through `tsix build -j 2` with each builder.
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildRequest, BuildService } from '../../builder/build-service.js';
import { createCriBuildService } from '../../builder/cri/cri-build-service.js';
import { createOciBuildService } from '../../builder/oci/oci-build-service.js';
import { fileURLToPath } from 'node:url';
import { best, median, report, timeShell } from './bench-util.js';
import { GRAPH_SIZE, graph } from './build-graph.js';

const CLI = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
const GRAPH_RUNS = Number(process.env.BENCH_RUNS ?? 3);

const N = Number(process.env.BENCH_BUILDS ?? 50);
const PARALLEL = 2;
const STORE = '/nix/store';
const BB = 'q3v4nq0l7a2s1c8x5bm6bkdd4ryz9fwh-busybox';
const CRI_DIR = process.env.TSIX_CRI_DIR ?? '/tmp/tsix-cri';

function request(src: string, i: number): BuildRequest {
  const out = `${STORE}/${String(i).padStart(32, '0')}-out`;
  return {
    command: `${STORE}/${BB}/bin/busybox`, args: ['sh', '-c', 'echo hello > $out'], env: { out },
    storeDir: STORE, inputSource: src, inputs: [`${STORE}/${BB}`], outputs: [out],
    workingDir: '/build', scratchPaths: [], network: false, shell: null, needles: [BB.slice(0, 32)],
  };
}

async function oneBuild(svc: BuildService, req: BuildRequest, logDir: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await svc.build(req, { logDir });
  await r.release();
  if (r.exitCode !== 0) throw new Error(`benchmark build failed: ${r.logTail.join('\n')}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Wall-clock ms per build running `n` builds `parallel` at a time, and the median build latency. */
async function timeBuilds(svc: BuildService, src: string, logDir: string, n: number, parallel: number): Promise<{ wall: number; latency: number }> {
  let next = 0;
  const ms: number[] = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) ms.push(await oneBuild(svc, request(src, next++), logDir));
  }));
  await svc.settled(); // the wall time includes removing what the builds left (release() defers it)
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6 / n, latency: median(ms) };
}

/** The bench:build graph realised by `tsix build -j 2` with each builder: what CRI costs a real build graph. */
async function graphBuilds(dir: string, criUrl: string): Promise<void> {
  const file = join(dir, 'graph.nix');
  await writeFile(file, graph());
  const times: Record<string, number[]> = { cri: [], oci: [] };
  for (let i = 0; i < GRAPH_RUNS; i++) {
    for (const [name, builder] of [['cri', criUrl], ['oci', 'oci://']] as const) {
      const store = join(dir, `store-${name}-${i}`);
      times[name]!.push(timeShell(`node ${CLI} --store level://${store} build ${file} --argstr salt ${Date.now()}-${i} --max-jobs 2 --builder '${builder}' --no-out-link`));
    }
  }
  const [c, o] = [best(times.cri!), best(times.oci!)];
  console.log(`\n${GRAPH_SIZE}-derivation graph (bench:build's), tsix build --max-jobs 2, best of ${GRAPH_RUNS}`);
  report('graph: cri vs oci (evaluate + build)', c, o, 'oci');
  console.log(`graph: per-build overhead of cri over oci: ${((c - o) / GRAPH_SIZE).toFixed(0)} ms (goal < 400 ms)`);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-bench-cri-'));
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  const logDir = join(dir, 'logs');
  await mkdir(join(src, BB, 'bin'), { recursive: true, mode: 0o755 });
  await copyFile('/bin/busybox', join(src, BB, 'bin/busybox'));
  await mkdir(logDir);
  const url = `cri+unix://${join(CRI_DIR, 'containerd.sock')}?state=${encodeURIComponent(join(dir, 'cri'))}`;
  const cri = await createCriBuildService(url);
  const warm = await createCriBuildService(`${url}&prewarm=1`);
  const oci = await createOciBuildService({ stateDir: join(dir, 'oci') });
  try {
    // One warm-up build each (rootfs trees, snapshot caches, gRPC channel).
    await oneBuild(cri, request(src, 0), logDir);
    await oneBuild(warm, request(src, 0), logDir);
    await oneBuild(oci, request(src, 0), logDir);
    const criPar = await timeBuilds(cri, src, logDir, N, PARALLEL);
    const warmPar = await timeBuilds(warm, src, logDir, N, PARALLEL);
    const ociPar = await timeBuilds(oci, src, logDir, N, PARALLEL);
    const criSeq = await timeBuilds(cri, src, logDir, N, 1);
    const warmSeq = await timeBuilds(warm, src, logDir, N, 1);
    const ociSeq = await timeBuilds(oci, src, logDir, N, 1);
    console.log(`${N} trivial builds (busybox sh -c 'echo hello > $out'), ms per build; ratio = cri / oci`);
    report(`cri vs oci, ${PARALLEL} at a time (wall/build)`, criPar.wall, ociPar.wall, 'oci');
    report(`cri vs oci, ${PARALLEL} at a time (median latency)`, criPar.latency, ociPar.latency, 'oci');
    report('cri vs oci, one at a time (median latency)', criSeq.latency, ociSeq.latency, 'oci');
    report(`cri prewarm=1 vs oci, ${PARALLEL} at a time (wall/build)`, warmPar.wall, ociPar.wall, 'oci');
    report(`cri prewarm=1 vs oci, ${PARALLEL} at a time (latency)`, warmPar.latency, ociPar.latency, 'oci');
    report('cri prewarm=1 vs oci, one at a time (latency)', warmSeq.latency, ociSeq.latency, 'oci');
    console.log(`cri per-build overhead over oci: ${(criSeq.latency - ociSeq.latency).toFixed(0)} ms (one at a time), ${(criPar.wall - ociPar.wall).toFixed(0)} ms (wall, ${PARALLEL} at a time)`);
    console.log(`cri per-build latency (pod + container + build; removal runs in the background): ${criSeq.latency.toFixed(0)} ms one at a time, ${criPar.latency.toFixed(0)} ms ${PARALLEL} at a time (goal < 400 ms); with prewarm=1: ${warmSeq.latency.toFixed(0)} ms, ${warmPar.latency.toFixed(0)} ms`);
    await graphBuilds(dir, url);
  } finally {
    await cri.close();
    await warm.close();
    await oci.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
