// Evaluation benchmark: the same Nix files through `tsix eval --strict` and
// `nix-instantiate --eval --strict`, best of 3 runs each (process start included), both outputs
// checked equal. Prints wall-clock and CPU-time ratios (tsix / nix, < 1 means tsix is faster),
// their geometric means, and the start-up time of `-E '1'` for both. TSIX_BENCH_RUNS sets the runs.
//
//   npm run bench:eval        (node dist/test/bench/eval.bench.js)

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { best, geomean, TSIX_BIN } from './bench-util.js';

const ENV = { ...process.env, NIX_PATH: '', NIX_CONFIG: 'build-users-group =\nexperimental-features = nix-command' };
const RUNS = Number(process.env.TSIX_BENCH_RUNS ?? 3);

/** name → Nix source; each evaluates to a small value so printing does not dominate. */
const FILES: Record<string, string> = {
  'fib 27 (naive recursion)': `let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 27`,
  "genList + foldl' 100k": `let l = builtins.genList (i: i * 3) 100000; in builtins.foldl' (a: b: a + b) 0 l`,
  'sort 100k ints (a permutation)': `let l = builtins.genList (i: (i * 7919) - ((i * 7919) / 100003) * 100003) 100000;
    s = builtins.sort builtins.lessThan l; in builtins.elemAt s 50000`,
  'listToAttrs 10k + lookups': `let a = builtins.listToAttrs (builtins.genList (i: { name = "k\${toString i}"; value = i; }) 10000);
    in builtins.foldl' (s: i: s + a."k\${toString i}") 0 (builtins.genList (i: i) 10000)`,
  "// in a fold, 3k keys (quadratic)": `let a = builtins.foldl' (acc: i: acc // { "k\${toString i}" = i; }) { } (builtins.genList (i: i) 3000);
    in builtins.length (builtins.attrNames a)`,
  'mapAttrs over 10k keys': `let a = builtins.listToAttrs (builtins.genList (i: { name = "k\${toString i}"; value = i; }) 10000);
    b = builtins.mapAttrs (n: v: v * 2 + builtins.stringLength n) a; in builtins.foldl' (s: n: s + b.\${n}) 0 (builtins.attrNames b)`,
  'string building 20k': `let parts = builtins.genList (i: "item-\${toString i};") 20000;
    s = builtins.concatStringsSep "" parts; t = builtins.foldl' (acc: p: acc + p) "" (builtins.genList (i: toString i) 5000);
    in builtins.stringLength s + builtins.stringLength t + builtins.length (builtins.split ";" (builtins.substring 0 20000 s))`,
  'fixpoint package set, 5000 pkgs + 3 overlays': `let
    fix = f: let x = f x; in x;
    extends = overlay: f: self: let super = f self; in super // overlay self super;
    n = 5000;
    pname = i: "pkg\${toString i}";
    base = self: builtins.listToAttrs (builtins.genList (i: { name = pname i; value = rec {
      name = "\${pname i}-\${version}"; version = "1.\${toString (i - (i / 7) * 7)}";
      deps = if i < 3 then [ ] else [ self.\${pname (i - 1)} self.\${pname (i / 2)} self.\${pname (i / 3)} ];
      depth = if i < 3 then 0 else 1 + self.\${pname (i / 2)}.depth;
      label = builtins.concatStringsSep "," (map (d: d.name) deps);
    }; }) n);
    overlay1 = self: super: builtins.mapAttrs (k: v: v // { name = "o1-\${v.name}"; }) super;
    overlay2 = self: super: builtins.mapAttrs (k: v: v // { tags = [ k v.version ]; }) super;
    overlay3 = self: super: { pkg10 = super.pkg10 // { depth = 100; }; extra = self.pkg4999.depth; };
    pkgs = fix (extends overlay3 (extends overlay2 (extends overlay1 base)));
    in builtins.foldl' (s: i: let p = pkgs.\${pname i}; in s + p.depth + builtins.stringLength p.label + builtins.length p.tags) pkgs.extra (builtins.genList (i: i) n)`,
};

interface Sample { ms: number; cpuMs: number; out: string }

/** One run: wall-clock time, and CPU time (user + system of the process and its threads) from bash's `times`,
 *  which is steadier than wall time on a loaded machine. */
function runOnce(argv: string[], cwd: string, outFile: string): Sample {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', `${quoted} > '${outFile}'; rc=$?; times; exit $rc`], { cwd, env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${argv.join(' ')}\n${r.stderr}`);
  const children = r.stdout.trim().split('\n').pop() ?? '';
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`cannot read CPU times from ${JSON.stringify(r.stdout)}`);
  return { ms, cpuMs: (secs[0]! + secs[1]!) * 1000, out: readFileSync(outFile, 'utf8') };
}

function bestOf(argv: string[], cwd: string): Sample {
  const runs = Array.from({ length: RUNS }, () => runOnce(argv, cwd, join(cwd, 'out')));
  return { ms: best(runs.map((r) => r.ms)), cpuMs: best(runs.map((r) => r.cpuMs)), out: runs[0]!.out };
}

function row(label: string, t: Sample, n: Sample): { wall: number; cpu: number } {
  const wall = t.ms / n.ms;
  const cpu = t.cpuMs / Math.max(n.cpuMs, 1);
  console.log(`${label.padEnd(46)} wall: tsix ${t.ms.toFixed(0).padStart(6)} ms nix ${n.ms.toFixed(0).padStart(6)} ms ratio ${wall.toFixed(2).padStart(6)}`
    + `   cpu: tsix ${t.cpuMs.toFixed(0).padStart(6)} ms nix ${n.cpuMs.toFixed(0).padStart(6)} ms ratio ${cpu.toFixed(2).padStart(6)}`);
  return { wall, cpu };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'tsix-eval-bench-'));
  try {
    const tsix = (args: string[]) => [TSIX_BIN, 'eval', ...args];
    const nix = (args: string[]) => ['nix-instantiate', '--eval', ...args];
    console.log(`tsix eval vs nix-instantiate --eval (${spawnSync('nix-instantiate', ['--version'], { encoding: 'utf8' }).stdout.trim()}), best of ${RUNS}`);
    const startT = bestOf(tsix(['-E', '1']), dir);
    const startN = bestOf(nix(['-E', '1']), dir);
    row("start-up: -E '1'", startT, startN);
    console.log('(ratio = tsix / nix; < 1 means tsix is faster; best of each)');
    const walls: number[] = [];
    const cpus: number[] = [];
    const nets: number[] = [];
    for (const [name, src] of Object.entries(FILES)) {
      const file = join(dir, `${name.replace(/[^A-Za-z0-9]+/g, '-')}.nix`);
      writeFileSync(file, src + '\n');
      const n = bestOf(nix(['--strict', file]), dir);
      const t = bestOf(tsix(['--strict', file]), dir);
      if (t.out !== n.out) throw new Error(`${name}: tsix printed ${JSON.stringify(t.out.slice(0, 200))}, nix ${JSON.stringify(n.out.slice(0, 200))}`);
      const r = row(name, t, n);
      walls.push(r.wall);
      cpus.push(r.cpu);
      // Evaluation alone: CPU time with each side's own start-up CPU time taken off.
      nets.push(Math.max(t.cpuMs - startT.cpuMs, 1) / Math.max(n.cpuMs - startN.cpuMs, 1));
    }
    console.log(`geometric mean over the files: wall ratio ${geomean(walls).toFixed(2)}, cpu ratio ${geomean(cpus).toFixed(2)} (start-up included)`);
    console.log(`evaluation only (cpu minus each side's start-up cpu): ${nets.map((x) => x.toFixed(2)).join(' ')}; geometric mean ${geomean(nets).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
