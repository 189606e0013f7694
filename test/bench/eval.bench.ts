// Evaluation benchmark: the same Nix files through `tsix eval --strict` and
// `nix-instantiate --eval --strict`, best of 3 wall-clock runs each (process start included),
// both outputs checked equal before timing. Prints each ratio (tsix / nix, < 1 means tsix is
// faster), their geometric mean, and the start-up time of `-E '1'` for both.
//
//   npm run bench:eval        (node dist/test/bench/eval.bench.js)

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { best, geomean, report } from './bench-util.js';

const TSIX_MAIN = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
const ENV = { ...process.env, NIX_PATH: '', NIX_CONFIG: 'build-users-group =\nexperimental-features = nix-command' };
const RUNS = Number(process.env.TSIX_BENCH_RUNS ?? 3);

/** name → Nix source; each evaluates to a small value so printing does not dominate. */
const FILES: Record<string, string> = {
  'fib 27 (naive recursion)': `let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 27`,
  "genList + foldl' 100k": `let l = builtins.genList (i: i * 3) 100000; in builtins.foldl' (a: b: a + b) 0 l`,
  'sort 100k ints': `let l = builtins.genList (i: (i * 7919) - (i / 100003) * 100003) 100000;
    s = builtins.sort builtins.lessThan l; in builtins.elemAt s 50000`,
  'listToAttrs 10k + lookups': `let a = builtins.listToAttrs (builtins.genList (i: { name = "k\${toString i}"; value = i; }) 10000);
    in builtins.foldl' (s: i: s + a."k\${toString i}") 0 (builtins.genList (i: i) 10000)`,
  "// in a fold, 10k keys": `let a = builtins.foldl' (acc: i: acc // { "k\${toString i}" = i; }) { } (builtins.genList (i: i) 3000);
    in builtins.length (builtins.attrNames a)`,
  'mapAttrs over 10k keys': `let a = builtins.listToAttrs (builtins.genList (i: { name = "k\${toString i}"; value = i; }) 10000);
    b = builtins.mapAttrs (n: v: v * 2 + builtins.stringLength n) a; in builtins.foldl' (s: n: s + b.\${n}) 0 (builtins.attrNames b)`,
  'string building 20k': `let parts = builtins.genList (i: "item-\${toString i};") 20000;
    s = builtins.concatStringsSep "" parts; t = builtins.foldl' (acc: p: acc + p) "" (builtins.genList (i: toString i) 5000);
    in builtins.stringLength s + builtins.stringLength t + builtins.length (builtins.split ";" (builtins.substring 0 20000 s))`,
  'fixpoint package set, 3000 pkgs + overlays': `let
    fix = f: let x = f x; in x;
    extends = overlay: f: self: let super = f self; in super // overlay self super;
    names = builtins.genList (i: "pkg\${toString i}") 3000;
    base = self: builtins.listToAttrs (builtins.genList (i: { name = "pkg\${toString i}"; value = {
      name = "pkg\${toString i}-1.0"; deps = if i < 3 then [ ] else [ self."pkg\${toString (i - 1)}" self."pkg\${toString (i / 2)}" ];
      size = 1 + (if i < 3 then 0 else self."pkg\${toString (i - 1)}".depth); depth = if i < 3 then 0 else 1 + self."pkg\${toString (i / 2)}".depth;
    }; }) 3000);
    overlay1 = self: super: builtins.mapAttrs (n: v: v // { name = "o1-\${v.name}"; }) super;
    overlay2 = self: super: { pkg10 = super.pkg10 // { depth = 100; }; extra = self.pkg2999.size; };
    pkgs = fix (extends overlay2 (extends overlay1 base));
    in builtins.foldl' (s: n: s + pkgs.\${n}.depth + builtins.stringLength pkgs.\${n}.name) pkgs.extra names`,
};

function runOnce(argv: string[], cwd: string): { ms: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env: ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${argv.join(' ')}\n${r.stderr}`);
  return { ms, out: r.stdout };
}

function bestOf(argv: string[], cwd: string): { ms: number; out: string } {
  const runs = Array.from({ length: RUNS }, () => runOnce(argv, cwd));
  return { ms: best(runs.map((r) => r.ms)), out: runs[0]!.out };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'tsix-eval-bench-'));
  try {
    const tsix = (args: string[]) => [process.execPath, TSIX_MAIN, 'eval', ...args];
    const nix = (args: string[]) => ['nix-instantiate', '--eval', ...args];
    console.log(`tsix eval vs nix-instantiate --eval (${spawnSync('nix-instantiate', ['--version'], { encoding: 'utf8' }).stdout.trim()}), best of ${RUNS}`);
    const startT = bestOf(tsix(['-E', '1']), dir);
    const startN = bestOf(nix(['-E', '1']), dir);
    report("start-up: -E '1'", startT.ms, startN.ms, 'nix');
    const ratios: number[] = [];
    for (const [name, src] of Object.entries(FILES)) {
      const file = join(dir, `${name.replace(/[^A-Za-z0-9]+/g, '-')}.nix`);
      writeFileSync(file, src + '\n');
      const n = bestOf(nix(['--strict', file]), dir);
      const t = bestOf(tsix(['--strict', file]), dir);
      if (t.out !== n.out) throw new Error(`${name}: tsix printed ${JSON.stringify(t.out.slice(0, 200))}, nix ${JSON.stringify(n.out.slice(0, 200))}`);
      ratios.push(report(name, t.ms, n.ms, 'nix'));
    }
    console.log(`geometric mean of ratios (files, without start-up): ${geomean(ratios).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
