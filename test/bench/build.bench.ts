// npm run bench:build — a 50-derivation graph of trivial busybox builds, `tsix build --max-jobs 2`
// against `nix-build --max-jobs 2` in Nix's sandbox, both from scratch (a fresh salt per run).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { best, report, timeShell, TSIX_BIN } from './bench-util.js';
import { NIX_ENV } from '../helpers/nix.js';
import { GRAPH_SIZE, graph } from './build-graph.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const N = GRAPH_SIZE;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-bench-build-'));
  try {
    const file = join(dir, 'graph.nix');
    await writeFile(file, graph());
    const t = [] as number[];
    const n = [] as number[];
    for (let i = 0; i < RUNS; i++) {
      const salt = `${Date.now()}-${i}`;
      const store = join(dir, `store-${i}`);
      t.push(timeShell(`${TSIX_BIN} --store level://${store} build ${file} --argstr salt ${salt} --max-jobs 2 --no-out-link`));
      n.push(timeShell(`nix-build ${file} --argstr salt ${salt} --max-jobs 2 --no-out-link --option sandbox true --option sandbox-paths /bin/sh=/bin/busybox`, { env: NIX_ENV }));
    }
    console.log(`${N} derivations, --max-jobs 2, ${RUNS} runs each (fresh salt per run), best time`);
    const r = report('build graph (evaluate + build)', best(t), best(n), 'nix-build');
    console.log(`per build: tsix ${(best(t) / N).toFixed(1)} ms, nix ${(best(n) / N).toFixed(1)} ms; ratio ${r.toFixed(2)} (≤ 1.0: tsix as fast or faster)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
