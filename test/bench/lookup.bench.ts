// npm run bench:lookup — latency of mount root lookups under a running daemon: a path already in
// the store, a path whose recorded derivation is built on the lookup (trivial busybox build), and
// a path nobody can produce (ENOENT). Each lookup is a fresh name, so the kernel has no entry cached.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { launchDaemon } from '../daemon/daemon-harness.js';
import { NIX_ENV } from '../helpers/nix.js';
import { importClosureFromNix } from '../helpers/nix-import.js';
import { tempDir } from '../helpers/trees.js';
import { openStore } from '../../store/open-store.js';
import { median } from './bench-util.js';

const N = Number(process.env.BENCH_N ?? 20);

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const work = await tempDir('tsix-bench-lookup-');
  const salt = `${Date.now()}`;
  const expr = `builtins.genList (i: derivation { name = "t\${toString i}"; salt = "${salt}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo \${toString i} > $out" ]; }) ${2 * N}`;
  const drvs = execFileSync('nix-instantiate', ['-E', expr], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n');
  const outs = drvs.map((d) => JSON.parse(execFileSync('nix', ['show-derivation', d], { env: NIX_ENV, encoding: 'utf8' }))[d].outputs.out.path as string);
  const url = `level://${join(work.dir, 'store')}`;
  const store = await openStore(url, { direct: true });
  await importClosureFromNix(store, drvs);
  await store.close();
  const mnt = join(work.dir, 'mnt');
  const d = await launchDaemon(['--store', url], mnt);
  try {
    const base = (p: string) => join(mnt, p.slice('/nix/store/'.length));
    const build = outs.slice(0, N).map((p) => time(() => statSync(base(p))));
    // Hits: the built paths, through a fresh dentry each (drop the kernel's entry cache first).
    execFileSync('sh', ['-c', 'echo 2 > /proc/sys/vm/drop_caches']);
    const hit = outs.slice(0, N).map((p) => time(() => statSync(base(p))));
    const miss = Array.from({ length: N }, (_, i) => time(() => {
      try { statSync(join(mnt, `${String(i).padStart(32, '0')}-nothing`)); } catch { /* ENOENT expected */ }
    }));
    console.log(`root lookups through the tsix mount, median of ${N} (ms):`);
    console.log(`  hit (path in the store)        ${median(hit).toFixed(2)}`);
    console.log(`  miss, trivial build on lookup  ${median(build).toFixed(2)}`);
    console.log(`  miss, nobody can produce (ENOENT) ${median(miss).toFixed(2)}`);
  } finally {
    await d.stop();
    await d.kill();
    await work.cleanup();
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
