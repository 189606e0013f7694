// `tsix instantiate` against `nix-instantiate` (Nix 2.8) on the corpus: identical output lines,
// every .drv stored byte-identically with Nix's references, outputs indexed, the same
// `show-derivation` JSON, and the same failures for bad input.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findDerivationForOutput, readDerivation, readDerivationText } from '../../eval/derivation/record.js';
import { openStore } from '../../store/open-store.js';
import { nix, nixErrors, nixOk, outputLines, repoFile } from './nix-oracle.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));
const corpus = repoFile('test/derivation/fixtures/corpus.nix');

async function tsix(args: string[], cwd?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [main, ...args], { encoding: 'utf8', maxBuffer: 1 << 26, cwd });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

function tempStore(t: { teardown(f: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsix-instantiate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return `level://${dir}`;
}

test('the corpus instantiates to the same .drv files as nix-instantiate', async (t) => {
  const url = tempStore(t);
  const want = await nixOk('nix-instantiate', [corpus]);
  const got = await tsix(['--store', url, 'instantiate', corpus]);
  t.is(got.code, 0, got.stderr);
  t.is(got.stdout, want);
  const roots = [...new Set(outputLines(want).map((l) => l.replace(/!.*/, '')))];
  const closure = outputLines(await nixOk('nix-store', ['-qR', ...roots]));
  const drvs = closure.filter((p) => p.endsWith('.drv'));
  t.true(drvs.length >= 100, `${drvs.length} derivations`);
  const store = await openStore(url, { direct: true });
  try {
    type NixInfo = { path: string; narHash: string; narSize: number; ca?: string; references: string[] };
    const others = closure.filter((p) => !p.endsWith('.drv'));
    const nixInfos: NixInfo[] = [
      ...(JSON.parse(await nixOk('nix', ['path-info', '--json', '--derivation', ...drvs])) as NixInfo[]),
      ...(others.length ? JSON.parse(await nixOk('nix', ['path-info', '--json', ...others])) as NixInfo[] : []),
    ];
    t.is(nixInfos.length, closure.length);
    for (const ni of nixInfos) {
      const info = await store.pathInfos.get(ni.path.slice(11, 43));
      t.truthy(info, `stored: ${ni.path}`);
      if (!info) continue;
      t.deepEqual(info.references, [...ni.references].sort(), `references of ${ni.path}`);
      t.is(`sha256-${info.narHash.toString('base64')}`, ni.narHash, `narHash of ${ni.path}`);
      t.is(info.narSize, ni.narSize, `narSize of ${ni.path}`);
      t.is(info.ca, ni.ca ?? null, `ca of ${ni.path}`);
    }
    for (const p of drvs) {
      t.is(await readDerivationText(store, p), readFileSync(p, 'utf8'), p);
      // Several fixed-output derivations may share an output path: any of them may be recorded.
      for (const o of (await readDerivation(store, p))!.outputs.values()) {
        const rec = await findDerivationForOutput(store, o.path);
        t.truthy(rec, o.path);
        const recDrv = rec ? await readDerivation(store, rec) : null;
        t.true([...(recDrv?.outputs.values() ?? [])].some((x) => x.path === o.path), `${o.path} → ${rec}`);
      }
    }
  } finally {
    await store.close();
  }
  const show = await tsix(['--store', url, 'show-derivation', ...drvs]);
  t.is(show.stdout, await nixOk('nix', ['show-derivation', ...drvs]));
});

test('-A, --arg, --argstr and -E select and call like nix-instantiate', async (t) => {
  const url = tempStore(t);
  const fn = `{ n ? 1, s ? "x", pkgs ? { } }: { a = derivation { name = "a-\${toString n}-\${s}"; system = "x"; builder = "/bin/sh"; }; b.c = derivation { name = "bc"; system = "x"; builder = "/bin/sh"; outputs = [ "dev" "out" ]; }; l = [ (derivation { name = "l0"; system = "x"; builder = "/bin/sh"; }) ]; }`;
  const calls: string[][] = [
    ['-E', fn],
    ['-E', fn, '-A', 'a'],
    ['-E', fn, '-A', 'b.c'],
    ['-E', fn, '-A', 'l.0'],
    ['-E', fn, '-A', 'a', '-A', 'b.c'],
    ['-E', fn, '--arg', 'n', '41 + 1', '--argstr', 's', 'str ing'],
    ['-E', `[ (${fn} { }).b.c (${fn} { }).b.c.out ]`],
    [corpus, '-A', 'd-multi-dev', '-A', 'e-chain'],
  ];
  for (const args of calls) {
    const want = await nix('nix-instantiate', args);
    const got = await tsix(['--store', url, 'instantiate', ...args]);
    t.is(got.code, want.code, `${args.join(' ')}: ${got.stderr}`);
    t.is(got.stdout, want.stdout, args.join(' '));
  }
});

test('an expression on stdin (-) instantiates like nix-instantiate -', async (t) => {
  const expr = 'derivation { name = "stdin"; system = "x"; builder = "/bin/sh"; }';
  const want = await new Promise<string>((resolve, reject) => {
    const c = execFile('nix-instantiate', ['-'], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    c.stdin!.end(expr);
  });
  const got = await new Promise<string>((resolve, reject) => {
    const c = execFile(process.execPath, [main, '--store', tempStore(t), 'instantiate', '-'], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    c.stdin!.end(expr);
  });
  t.is(got, want);
});

test('bad input fails like nix-instantiate', async (t) => {
  const url = tempStore(t);
  const d = (attrs: string): string => `derivation ({ name = "a"; system = "x"; builder = "/bin/sh"; } // ${attrs})`;
  const cases: [string, RegExp][] = [
    ['derivation { system = "x"; builder = "/bin/sh"; }', /derivation name missing|attribute 'name' missing/],
    ['derivation { name = "a"; builder = "/bin/sh"; }', /required attribute 'system' missing/],
    ['derivation { name = "a"; system = "x"; }', /required attribute 'builder' missing/],
    [d('{ name = "a b"; }'), /contains illegal character ' '/],
    [d('{ name = "a.drv"; }'), /derivation names are not allowed to end in '.drv'/],
    [d('{ outputs = [ "out" "out" ]; }'), /duplicate derivation output 'out'/],
    [d('{ outputs = [ "drv" ]; }'), /invalid derivation output name 'drv'/],
    [d('{ outputHash = "abc"; outputHashAlgo = "sha256"; }'), /hash 'abc' has wrong length for hash type 'sha256'/],
    [d('{ outputHash = "abc"; }'), /hash 'abc' does not include a type, nor is the type otherwise known from context/],
    [d('{ outputHash = "sha256-abc"; }'), /invalid SRI hash 'abc'/],
    [d('{ outputHashMode = "foo"; }'), /invalid value 'foo' for 'outputHashMode' attribute/],
    [d('{ outputHash = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; outputHashAlgo = "r:sha256"; }'), /does not include a type, nor is the type otherwise known from context/],
    [d('{ outputHash = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; outputHashAlgo = "sha1"; }'), /has wrong length for hash type 'sha1'/],
    [d('{ outputHash = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; outputHashAlgo = "sha256"; outputs = [ "out" "dev" ]; }'), /multiple outputs are not supported in fixed-output derivations/],
    [d('{ x = { }; }'), /cannot coerce a set to a string/],
    [d('{ __contentAddressed = true; }'), /experimental Nix feature 'ca-derivations' is disabled/],
    ['builtins.toFile "x" "${derivation { name = "a"; system = "x"; builder = "/bin/sh"; }}"', /in 'toFile': the file named 'x' must not contain a reference to a derivation/],
    ['"not a derivation"', /expression does not evaluate to a derivation \(or a set or list of those\)/],
    [d('{ src = /nonexistent/path/x; }'), /getting status of '\/nonexistent\/path\/x': No such file or directory/],
    ['builtins.toFile "a b" "x"', /store path '.*a b' contains illegal character ' '/],
    [d('{ name = "ä"; }'), /store path '.*' contains illegal character/],
    [d(`{ s = builtins.path { path = ${JSON.stringify(repoFile('test/derivation/fixtures/src'))}; sha256 = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; }; }`), /store path mismatch in \(possibly filtered\) path added from '.*\/fixtures\/src'/],
    [d('{ s = builtins.path { path = /tmp; foo = 1; }; }'), /unsupported argument 'foo' to 'addPath'/],
    [d('{ s = builtins.path { name = "x"; }; }'), /'path' required/],
    [d('{ s = builtins.filterSource 1 /tmp; }'), /first argument in call to 'filterSource' is not a function but an integer/],
    [d('{ outputHash = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; outputHashAlgo = "sha256"; outputs = [ "dev" ]; }'), /multiple outputs are not supported in fixed-output derivations/],
    [d('{ outputHash = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; outputHashAlgo = "sha257"; }'), /does not include a type, nor is the type otherwise known from context/],
    [d('{ __structuredAttrs = true; f = x: x; }'), /cannot convert a function to JSON/],
  ];
  for (const [expr, re] of cases) {
    const want = await nix('nix-instantiate', ['-E', expr]);
    t.not(want.code, 0, expr);
    t.regex(nixErrors(want.stderr), re, `Nix: ${expr}`);
    const got = await tsix(['--store', url, 'instantiate', '-E', expr]);
    t.is(got.code, 1, expr);
    t.regex(got.stderr, re, `tsix: ${expr}`);
    t.is(got.stdout, '', expr);
  }
});

test('instantiating again into the same store prints the same paths and keeps the store consistent', async (t) => {
  const url = tempStore(t);
  const first = await tsix(['--store', url, 'instantiate', corpus, '-A', 'e-diamond', '-A', 'i-path-dir']);
  const second = await tsix(['--store', url, 'instantiate', corpus, '-A', 'e-diamond', '-A', 'i-path-dir']);
  t.is(first.code, 0, first.stderr);
  t.is(second.stdout, first.stdout);
  t.is(second.stdout, await nixOk('nix-instantiate', [corpus, '-A', 'e-diamond', '-A', 'i-path-dir']));
  const dry = await tsix(['--store', tempStore(t), 'instantiate', '--dry-run', corpus, '-A', 'e-diamond']);
  t.is(dry.stdout, outputLines(first.stdout)[0] + '\n');
});

test('the main-thread attempt and the worker give the same output; traces and errors are shown once', async (t) => {
  const url = tempStore(t);
  const ok = 'builtins.trace "hello from the evaluation" (derivation { name = "traced"; system = "x"; builder = "/bin/sh"; })';
  const deep = 'let f = n: if n == 0 then derivation { name = "deep"; system = "x"; builder = "/bin/sh"; } else f (n - 1); in f 20000';
  const bad = 'builtins.trace "before the error" (derivation { name = "a b"; system = "x"; builder = "/bin/sh"; })';
  const want = await nix('nix-instantiate', ['-E', ok]);
  const wantDeep = await nix('nix-instantiate', ['-E', deep]);
  for (const env of [{}, { TSIX_EVAL_WORKER: '1' }]) {
    const mode = Object.keys(env).length ? 'worker' : 'main thread first';
    const withEnv = (args: string[]) => new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
      execFile(process.execPath, [main, '--store', url, ...args], { encoding: 'utf8', env: { ...process.env, ...env } }, (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? (err as { code: number }).code : 0 }));
    });
    const r = await withEnv(['instantiate', '-E', ok]);
    t.is(r.stdout, want.stdout, mode);
    t.is(r.stderr.match(/hello from the evaluation/g)?.length, 1, `${mode}: the trace once`);
    // Deeper than the main thread's stack allows: the worker finishes it.
    t.is((await withEnv(['instantiate', '-E', deep])).stdout, wantDeep.stdout, `${mode}: deep recursion`);
    const b = await withEnv(['instantiate', '-E', bad]);
    t.not(b.code, 0);
    t.is(b.stderr.match(/before the error/g)?.length, 1, `${mode}: the trace before an error once`);
    t.is(b.stderr.match(/contains illegal character/g)?.length, 1, `${mode}: the error once`);
  }
});
