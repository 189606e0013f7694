// The differential evaluation corpus (test/eval/corpus/cases.txt): parsing it, running
// `tsix eval` and `nix-instantiate --eval` on its cases, comparing them.

import { execFile } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

export type Mode = 'json' | 'strict' | 'plain' | 'lazyjson' | 'xml' | 'xmls' | 'fail' | 'failany';
export const MODES: Mode[] = ['json', 'strict', 'plain', 'lazyjson', 'xml', 'xmls', 'fail', 'failany'];

/** Modes whose cases are evaluated many at a time (as one list) and bisected on a difference. */
export const BATCHED: ReadonlySet<Mode> = new Set<Mode>(['json', 'strict']);

export const FLAGS: Record<Mode, string[]> = {
  json: ['--strict', '--json'], strict: ['--strict'], plain: [], lazyjson: ['--json'],
  xml: ['--xml'], xmls: ['--xml', '--strict'], fail: ['--strict'], failany: ['--strict'],
};

export interface Case { name: string; modes: Mode[]; expr: string; line: number }

/** A file of the source tree (the corpus is not compiled): walks up from this file to package.json. */
export function repoFile(rel: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return join(dir, rel);
}

function parseModes(s: string, line: number): Mode[] {
  const ms = s.trim().split(/[\s,]+/).filter(Boolean);
  for (const m of ms) if (!MODES.includes(m as Mode)) throw new Error(`corpus line ${line}: unknown mode '${m}'`);
  return ms as Mode[];
}

/** Parses cases.txt; throws on a malformed line or a duplicate name. */
export function parseCorpus(text: string): Case[] {
  const lines = text.split('\n');
  const cases: Case[] = [];
  const seen = new Set<string>();
  let modes: Mode[] = ['json', 'strict'];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const mm = /^## modes:(.*)$/.exec(l);
    if (mm) { modes = parseModes(mm[1], i + 1); continue; }
    if (l.trim() === '' || l.startsWith('#')) continue;
    const m = /^([A-Za-z0-9_'.-]+)(?: \[([a-z ,]+)\])?: (.*)$/.exec(l);
    if (!m) throw new Error(`corpus line ${i + 1}: expected 'name: expr', got ${JSON.stringify(l)}`);
    let expr = m[3];
    const start = i + 1;
    if (expr === '<<<') {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== '>>>'; i++) body.push(lines[i]);
      if (i >= lines.length) throw new Error(`corpus line ${start}: '<<<' without '>>>'`);
      expr = body.join('\n');
    }
    if (seen.has(m[1])) throw new Error(`corpus line ${start}: duplicate case name '${m[1]}'`);
    seen.add(m[1]);
    cases.push({ name: m[1], modes: m[2] ? parseModes(m[2], start) : modes, expr, line: start });
  }
  return cases;
}

export function loadCorpus(): Case[] {
  return parseCorpus(readFileSync(repoFile('test/eval/corpus/cases.txt'), 'utf8'));
}

export interface RunResult { stdout: string; error: string | null; code: number }

/** The environment both evaluators see: no NIX_PATH, no nixbld warnings. */
export const EVAL_ENV = { ...process.env, NIX_PATH: '', NIX_CONFIG: 'build-users-group =\nexperimental-features = nix-command', TSIX_CORPUS_SURELY_UNSET: undefined } as NodeJS.ProcessEnv;

const TIMEOUT_MS = 60_000;

function run(cmd: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: EVAL_ENV, cwd, maxBuffer: 1 << 28, timeout: TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(`${cmd} is needed for the evaluation corpus and is not installed`));
        return;
      }
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
      const code = e ? (e.killed ? -1 : typeof e.code === 'number' ? e.code : 1) : 0;
      const error = e?.killed ? `timed out after ${TIMEOUT_MS} ms` : stderr.split('\n').find((l) => l.startsWith('error: ')) ?? (code !== 0 ? stderr.trim().split('\n').pop() ?? '' : null);
      resolve({ stdout, error, code });
    });
  });
}

export { TSIX_BIN } from '../helpers/cli.js';
import { TSIX_BIN } from '../helpers/cli.js';

export interface Evaluator { name: string; eval(flags: string[], expr: string): Promise<RunResult> }

/** Real Nix; answers are cached for this process only. */
export function nixEvaluator(cwd: string): Evaluator {
  const cache = new Map<string, Promise<RunResult>>();
  return {
    name: 'nix',
    eval(flags, expr) {
      const key = JSON.stringify([flags, expr]);
      let r = cache.get(key);
      if (!r) { r = run('nix-instantiate', ['--eval', ...flags, '-E', expr], cwd); cache.set(key, r); }
      return r;
    },
  };
}

export function tsixEvaluator(cwd: string): Evaluator {
  return { name: 'tsix', eval: (flags, expr) => run(TSIX_BIN, ['eval', ...flags, '-E', expr], cwd) };
}

/** Bounded parallelism for evaluator processes. */
export class Pool {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit = Math.max(2, cpus().length * 2)) {}
  async do<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try { return await f(); } finally { this.active--; this.waiting.shift()?.(); }
  }
}

export interface Outcome { key: string; pass: boolean; detail: string; nixFailedUnexpectedly: boolean }

export function caseKey(c: Case, mode: Mode): string {
  return `${c.name}@${mode}`;
}

function batchExpr(cases: Case[]): string {
  return `[\n${cases.map((c) => `(\n${c.expr}\n)`).join('\n')}\n]`;
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  const ctx = (s: string) => JSON.stringify(s.slice(Math.max(0, i - 20), i + 40));
  return `at byte ${i}: nix ${ctx(a)} vs tsix ${ctx(b)}`;
}

/** Compares one mode's results; the detail says what differs. */
export function compare(mode: Mode, nix: RunResult, tsix: RunResult): { pass: boolean; detail: string } {
  if (nix.code !== tsix.code) return { pass: false, detail: `exit ${nix.code} vs ${tsix.code}${tsix.error ? ` (tsix: ${tsix.error.slice(0, 200)})` : ''}` };
  if (nix.stdout !== tsix.stdout) return { pass: false, detail: `stdout differs ${firstDifference(nix.stdout, tsix.stdout)}` };
  if (nix.code !== 0 && mode !== 'failany' && nix.error !== tsix.error) {
    return { pass: false, detail: `error line differs: nix ${JSON.stringify(nix.error)} vs tsix ${JSON.stringify(tsix.error)}` };
  }
  return { pass: true, detail: '' };
}

/**
 * The raw text of each element of a printed list (`[a,b]` for --json, `[ a b ]` for plain), or
 * null when the output is not such a list. Elements are split at depth 1 outside strings.
 */
export function splitPrintedList(out: string, json: boolean): { items: string[]; frame: string } | null {
  const body = out.replace(/\n$/, '');
  const frame = out.slice(body.length);
  if (json ? !(body.startsWith('[') && body.endsWith(']')) : !(body.startsWith('[ ') && body.endsWith(']'))) return null;
  const items: string[] = [];
  let depth = 0;
  let start = json ? 1 : 2;
  for (let i = start; i < body.length - 1; i++) {
    const c = body[i];
    if (c === '"') {
      for (i++; i < body.length && body[i] !== '"'; i++) if (body[i] === '\\') i++;
    } else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (depth === 0 && c === (json ? ',' : ' ')) {
      items.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return null;
  const last = body.slice(start, body.length - 1);
  if (json ? last !== '' : false) items.push(last);
  else if (json && items.length > 0) return null;
  return { items, frame };
}

/** Runs all cases of one mode: a batched mode compares a batch element by element and bisects a batch that fails. */
export async function runMode(mode: Mode, cases: Case[], nix: Evaluator, tsix: Evaluator, pool: Pool): Promise<Outcome[]> {
  const flags = FLAGS[mode];
  const single = async (c: Case): Promise<Outcome> => {
    const [n, t] = await Promise.all([pool.do(() => nix.eval(flags, c.expr)), pool.do(() => tsix.eval(flags, c.expr))]);
    const expectFail = mode === 'fail' || mode === 'failany';
    const nixFailedUnexpectedly = expectFail ? n.code === 0 : (n.code !== 0 && mode !== 'lazyjson' && mode !== 'xml' && mode !== 'plain');
    return { key: caseKey(c, mode), nixFailedUnexpectedly, ...compare(mode, n, t) };
  };
  if (!BATCHED.has(mode)) return Promise.all(cases.map(single));
  const json = mode === 'json';
  const bisect = async (part: Case[]): Promise<Outcome[]> => {
    if (part.length === 1) return [await single(part[0])];
    const expr = batchExpr(part);
    const [n, t] = await Promise.all([pool.do(() => nix.eval(flags, expr)), pool.do(() => tsix.eval(flags, expr))]);
    if (n.code === 0 && t.code === 0) {
      const ns = splitPrintedList(n.stdout, json);
      const ts = splitPrintedList(t.stdout, json);
      if (ns && ts && ns.items.length === part.length && ts.items.length === part.length) {
        // A single case prints its element alone, framed the way the whole list is.
        return part.map((c, k) => {
          const r = compare(mode, { stdout: ns.items[k] + ns.frame, error: null, code: 0 }, { stdout: ts.items[k] + ts.frame, error: null, code: 0 });
          return { key: caseKey(c, mode), nixFailedUnexpectedly: false, ...r };
        });
      }
    }
    const mid = part.length >> 1;
    const [a, b] = await Promise.all([bisect(part.slice(0, mid)), bisect(part.slice(mid))]);
    return a.concat(b);
  };
  return cases.length === 0 ? [] : bisect(cases);
}
