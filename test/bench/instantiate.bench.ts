// Benchmark: `tsix instantiate` against `nix-instantiate` on one generated file with 5,000
// derivations (a dependency graph, some multi-output, some with copied sources and toFile).
// Every round uses a fresh salt so both tools write every .drv (cold: nix-instantiate into
// /nix/store, tsix into a new LevelDB store), then runs both again on the same file (warm: every
// .drv already stored); all runs must print the same lines.
// Usage: node <build>/test/bench/instantiate.bench.js [COUNT] [ROUNDS]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const COUNT = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 3);
const NIX_ENV = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =' };
const tsixMain = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));

function generate(dir: string, salt: string): string {
  mkdirSync(join(dir, 'src'), { recursive: true });
  for (let k = 0; k < 20; k++) writeFileSync(join(dir, 'src', `f${k}.txt`), `source file ${k} ${salt}\n`);
  mkdirSync(join(dir, 'src', 'tree', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'src', 'tree', 'a'), `a ${salt}\n`);
  writeFileSync(join(dir, 'src', 'tree', 'sub', 'b'), `b ${salt}\n`);
  const file = join(dir, 'bench.nix');
  writeFileSync(file, `
let
  salt = "${salt}";
  system = "x86_64-linux";
  count = ${COUNT};
  setup = builtins.toFile "setup.sh" "export SALT=\${salt}\\n";
  tree = ./src/tree;
  pkg = i:
    let
      m = i - (i / 7) * 7;
      dep = j: builtins.elemAt pkgs j;
      deps = if i == 0 then [ ] else [ (dep (i - 1)) ] ++ (if i > 10 then [ (dep (i / 2)) (dep (i - 10)) ] else [ ]);
    in derivation ({
      name = "pkg-\${toString i}";
      inherit system salt;
      builder = "/bin/sh";
      args = [ "-c" "source $setup; echo $deps > $out" ];
      inherit setup;
      deps = deps;
      index = i;
      flags = [ "--with-x" "--enable-\${toString m}" ];
      outputs = if m == 0 then [ "out" "dev" "lib" ] else [ "out" ];
    } // (if m == 3 then { src = ./src + "/f\${toString (i / 7 - (i / 140) * 20)}.txt"; } else { })
      // (if m == 5 then { inc = "\${(dep (i - 5)).dev or (dep (i - 5))}/include"; tree = tree; } else { }));
  pkgs = builtins.genList pkg count;
in pkgs
`);
  return file;
}

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; lines: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(0, 4000)}`);
  return { ms, lines: r.stdout.split('\n').filter((l) => l).length, stdout: r.stdout };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  execFileSync('nix-instantiate', ['--version'], { env: NIX_ENV });
  const work = mkdtempSync(join(tmpdir(), 'tsix-bench-instantiate-'));
  const nixMs: number[] = [];
  const tsixMs: number[] = [];
  const nixWarm: number[] = [];
  const tsixWarm: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const salt = `${process.pid}-${Date.now()}-${r}`;
      const f = generate(join(work, `gen-${r}`), salt);
      const storeUrl = `level://${join(work, `store-${r}`)}`;
      const n = time('nix-instantiate', [f], NIX_ENV);
      const t = time(process.execPath, [tsixMain, '--store', storeUrl, 'instantiate', f], process.env);
      if (n.stdout !== t.stdout) throw new Error(`nix-instantiate and tsix instantiate printed different .drv paths (${n.lines} and ${t.lines} lines)`);
      nixMs.push(n.ms);
      tsixMs.push(t.ms);
      // Warm: the same file again, every .drv already in the store.
      const nw = time('nix-instantiate', [f], NIX_ENV);
      const tw = time(process.execPath, [tsixMain, '--store', storeUrl, 'instantiate', f], process.env);
      if (nw.stdout !== tw.stdout || tw.stdout !== t.stdout) throw new Error('warm runs printed different .drv paths');
      nixWarm.push(nw.ms);
      tsixWarm.push(tw.ms);
      console.log(`round ${r + 1}: cold nix-instantiate ${n.ms.toFixed(0)} ms, tsix ${t.ms.toFixed(0)} ms; warm nix-instantiate ${nw.ms.toFixed(0)} ms, tsix ${tw.ms.toFixed(0)} ms (${n.lines} lines)`);
    }
    const ratio = median(tsixMs) / median(nixMs);
    console.log(`instantiate ${COUNT} derivations (cold store, median of ${ROUNDS}): nix-instantiate ${median(nixMs).toFixed(0)} ms, tsix ${median(tsixMs).toFixed(0)} ms, ratio tsix/nix = ${ratio.toFixed(2)} (goal <= 1.0)`);
    console.log(`instantiate ${COUNT} derivations (warm store, median of ${ROUNDS}): nix-instantiate ${median(nixWarm).toFixed(0)} ms, tsix ${median(tsixWarm).toFixed(0)} ms, ratio tsix/nix = ${(median(tsixWarm) / median(nixWarm)).toFixed(2)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
