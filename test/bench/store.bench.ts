// npm run bench:store — `tsix store add` vs `nix-store --add` and `tsix store dump` vs
// `nix-store --dump` on the same generated tree (~20k small files + a few large, ~500 MiB).
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { best, report, timeShell, TSIX_BIN } from './bench-util.js';
import { NIX_ENV } from '../helpers/nix.js';
import { seededBytes } from '../helpers/trees.js';

const CLI = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
const ROOT = process.env.BENCH_DIR ?? '/tmp/tsix-bench-store';
const TREE = join(ROOT, 'tree');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function generate(): Promise<void> {
  if (existsSync(join(ROOT, '.complete'))) return;
  await rm(ROOT, { recursive: true, force: true });
  console.log('generating ~500 MiB tree (20,000 small files, 4 large files)...');
  for (let d = 0; d < 200; d++) {
    const dir = join(TREE, 'small', `d${d}`);
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 100; f++) await writeFile(join(dir, `f${f}.txt`), seededBytes(512 + ((d * 100 + f) % 8) * 1024, d * 1000 + f + 1));
  }
  await mkdir(join(TREE, 'large'), { recursive: true });
  for (let i = 0; i < 4; i++) await writeFile(join(TREE, 'large', `blob${i}.bin`), seededBytes(100 << 20, 7 + i));
  await writeFile(join(ROOT, '.complete'), '');
}

function sh(cmd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync('bash', ['-c', cmd], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout.trim();
}

async function main(): Promise<void> {
  await generate();
  const du = sh(`du -sm ${TREE} | cut -f1`);
  console.log(`tree: ${du} MiB, ${sh(`find ${TREE} -type f | wc -l`)} files; ${RUNS} runs each, best time`);
  const nixPath = sh(`nix-store --add ${TREE}`, NIX_ENV);
  const store = join(ROOT, 'tsix-store');
  const add = { tsix: [] as number[], nix: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    await rm(store, { recursive: true, force: true });
    sh('sync');
    add.tsix.push(timeShell(`${TSIX_BIN} --store level://${store} store add ${TREE}`));
    sh(`nix-store --delete ${nixPath} >/dev/null 2>&1 || true`, NIX_ENV);
    sh('sync');
    add.nix.push(timeShell(`nix-store --add ${TREE}`, { env: NIX_ENV }));
  }
  const ourPath = sh(`node ${CLI} --store level://${store} store add ${TREE}`);
  if (ourPath !== nixPath) throw new Error(`store paths differ: ${ourPath} vs ${nixPath}`);
  const dump = { tsix: [] as number[], nix: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    dump.tsix.push(timeShell(`${TSIX_BIN} --store level://${store} store dump ${ourPath} > /dev/null`));
    dump.nix.push(timeShell(`nix-store --dump ${nixPath} > /dev/null`, { env: NIX_ENV }));
  }
  const r1 = report('store add (tree → store)', best(add.tsix), best(add.nix), 'nix-store --add');
  const r2 = report('store dump (store → NAR)', best(dump.tsix), best(dump.nix), 'nix-store --dump');
  console.log(`ratios (tsix/nix, ≤ 1.0 means tsix is as fast or faster): add ${r1.toFixed(2)}, dump ${r2.toFixed(2)}`);
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
