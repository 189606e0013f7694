// Runs Nix's own language tests (tests/lang of NixOS/nix 2.8.0) against `tsix eval`, the way
// Nix's tests/lang.sh runs them, and prints the pass rate per kind and the failing names.
// Real Nix runs the same tests alongside as the reference (some need a store or this machine's setup).
//
//   git --git-dir <nix mirror> archive 2.8.0 tests/lang | tar -x -C /tmp/nix-lang
//   node <build>/test/eval/lang-suite.js /tmp/nix-lang/tests/lang [--only tsix] [--filter SUBSTRING]
//
// The suite is fetched, never committed.

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { TSIX_BIN } from '../helpers/cli.js';
import { cpus } from 'node:os';

type Kind = 'parse-okay' | 'parse-fail' | 'eval-okay' | 'eval-okay-xml' | 'eval-fail';
const KINDS: Kind[] = ['parse-okay', 'parse-fail', 'eval-okay', 'eval-okay-xml', 'eval-fail'];

interface Run { code: number; stdout: string; stderr: string }
interface Runner { name: string; argv0: string[] }

const RUNNERS: Runner[] = [
  { name: 'tsix', argv0: [TSIX_BIN, 'eval'] },
  { name: 'nix', argv0: ['nix-instantiate'] },
];

function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv, stdin: string | null): Promise<Run> {
  return new Promise((res) => {
    const child = execFile(argv[0], argv.slice(1), { cwd, env, maxBuffer: 1 << 28, timeout: 120_000, killSignal: 'SIGKILL', encoding: 'buffer' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        res({ code: e ? (typeof e.code === 'number' ? e.code : e.killed ? -1 : 1) : 0, stdout: stdout.toString('latin1'), stderr: stderr.toString('utf8') });
      });
    if (stdin !== null) child.stdin?.end(stdin); else child.stdin?.end();
  });
}

class Pool {
  private active = 0;
  private readonly q: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async do<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.q.push(r));
    this.active++;
    try { return await f(); } finally { this.active--; this.q.shift()?.(); }
  }
}

interface Test { kind: Kind; name: string }

function listTests(langDir: string): Test[] {
  const out: Test[] = [];
  for (const f of readdirSync(langDir).sort()) {
    if (!f.endsWith('.nix')) continue;
    const name = f.slice(0, -4);
    if (name.startsWith('parse-okay-')) out.push({ kind: 'parse-okay', name });
    else if (name.startsWith('parse-fail-')) out.push({ kind: 'parse-fail', name });
    else if (name.startsWith('eval-fail-')) out.push({ kind: 'eval-fail', name });
    else if (name.startsWith('eval-okay-')) {
      if (existsSync(join(langDir, `${name}.exp`))) out.push({ kind: 'eval-okay', name });
      if (existsSync(join(langDir, `${name}.exp.xml`))) out.push({ kind: 'eval-okay-xml', name });
    }
  }
  return out;
}

/** One test for one evaluator, as lang.sh runs it (cwd = tests/, files named lang/…). */
async function runTest(r: Runner, t: Test, testsDir: string, langDir: string): Promise<{ pass: boolean; why: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_VAR: 'foo', NIX_REMOTE: 'dummy://', NIX_PATH: '',
    NIX_CONFIG: 'build-users-group =\nexperimental-features = nix-command' };
  const file = `lang/${t.name}.nix`;
  const isTsix = r.name === 'tsix';
  switch (t.kind) {
    case 'parse-fail':
    case 'parse-okay': {
      const src = readFileSync(join(langDir, `${t.name}.nix`), 'utf8');
      // nix-instantiate --parse; tsix eval has no --parse, so it evaluates and only a syntax error counts as a parse failure.
      const res = isTsix ? await run([...r.argv0, '-'], testsDir, env, src) : await run([...r.argv0, '--parse', '-'], testsDir, env, src);
      const parseFailed = isTsix ? res.code !== 0 && /error: (syntax error|.*(parse|unexpected|invalid|undefined variable|already defined|duplicate))/i.test(res.stderr)
        : res.code !== 0;
      if (t.kind === 'parse-fail') return { pass: parseFailed, why: parseFailed ? '' : `parsed (exit ${res.code})` };
      return { pass: !parseFailed, why: parseFailed ? firstError(res.stderr) : '' };
    }
    case 'eval-fail': {
      const res = await run([...r.argv0, '--eval', file].filter((x, k) => !(isTsix && k === r.argv0.length && x === '--eval')), testsDir, env, null);
      return { pass: res.code !== 0, why: res.code !== 0 ? '' : `evaluated: ${res.stdout.slice(0, 80)}` };
    }
    case 'eval-okay': {
      const flagsFile = join(langDir, `${t.name}.flags`);
      const flags = existsSync(flagsFile) ? readFileSync(flagsFile, 'utf8').trim().split(/\s+/) : [];
      const res = await run([...r.argv0, ...flags, ...(isTsix ? [] : ['--eval']), '--strict', file], testsDir, { ...env, NIX_PATH: 'lang/dir3:lang/dir4' }, null);
      const exp = readFileSync(join(langDir, `${t.name}.exp`), 'latin1');
      if (res.code !== 0) return { pass: false, why: firstError(res.stderr) };
      return { pass: res.stdout === exp, why: res.stdout === exp ? '' : `output differs: got ${JSON.stringify(res.stdout.slice(0, 120))}` };
    }
    case 'eval-okay-xml': {
      const res = await run([...r.argv0, ...(isTsix ? [] : ['--eval']), '--xml', '--no-location', '--strict', file], testsDir, env, null);
      const exp = readFileSync(join(langDir, `${t.name}.exp.xml`), 'latin1');
      if (res.code !== 0) return { pass: false, why: firstError(res.stderr) };
      return { pass: res.stdout === exp, why: res.stdout === exp ? '' : 'XML differs' };
    }
  }
}

function firstError(stderr: string): string {
  return (stderr.split('\n').find((l) => l.startsWith('error:')) ?? stderr.trim().split('\n')[0] ?? '').slice(0, 160);
}

async function main(argv: string[]): Promise<number> {
  const dirArg = argv.find((a) => !a.startsWith('--') && argv[argv.indexOf(a) - 1] !== '--filter' && argv[argv.indexOf(a) - 1] !== '--only');
  if (!dirArg) {
    process.stderr.write('usage: node lang-suite.js DIR [--only tsix|nix] [--filter SUBSTRING]\n  DIR: tests/lang of NixOS/nix 2.8.0 (or its parent tests/)\n');
    return 2;
  }
  let langDir = resolve(dirArg);
  if (existsSync(join(langDir, 'lang'))) langDir = join(langDir, 'lang');
  if (basename(langDir) !== 'lang') throw new Error(`${langDir}: expected the tests/lang directory`);
  const testsDir = dirname(langDir);
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : null;
  const filter = argv.includes('--filter') ? argv[argv.indexOf('--filter') + 1] : null;
  const runners = RUNNERS.filter((r) => only === null || r.name === only);
  const tests = listTests(langDir).filter((t) => filter === null || t.name.includes(filter));
  const pool = new Pool(Math.max(2, cpus().length * 2));
  const results = await Promise.all(tests.map(async (t) => ({
    t, per: await Promise.all(runners.map((r) => pool.do(() => runTest(r, t, testsDir, langDir)))),
  })));
  const out: string[] = [];
  out.push(`Nix 2.8.0 tests/lang (${tests.length} tests) in ${langDir}`);
  out.push(['kind'.padEnd(15), ...runners.map((r) => r.name.padStart(16))].join(''));
  for (const kind of KINDS) {
    const rs = results.filter((x) => x.t.kind === kind);
    if (rs.length === 0) continue;
    out.push([kind.padEnd(15), ...runners.map((_, k) => {
      const pass = rs.filter((x) => x.per[k].pass).length;
      return `${pass}/${rs.length} ${(100 * pass / rs.length).toFixed(0).padStart(3)}%`.padStart(16);
    })].join(''));
  }
  runners.forEach((r, k) => {
    const total = results.filter((x) => x.per[k].pass).length;
    out.push(`${r.name} total: ${total}/${results.length}`);
  });
  for (const [k, r] of runners.entries()) {
    const failing = results.filter((x) => !x.per[k].pass);
    if (failing.length === 0) continue;
    out.push('', `${r.name} failing (${failing.length}):`);
    for (const x of failing) out.push(`  ${x.t.kind} ${x.t.name}: ${x.per[k].why}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { process.stderr.write(`${e?.stack ?? e}\n`); process.exitCode = 1; });
