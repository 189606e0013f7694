// Differential evaluation: every corpus case (test/eval/corpus/cases.txt) is evaluated by
// `tsix eval` and by `nix-instantiate --eval` with the same flags; stdout and exit status must
// be the same (and the `error:` line, for failures). Cases the evaluator does not pass yet are
// listed with a reason in corpus-known-failures.json; a listed case that passes fails the test,
// so the list can only shrink. TSIX_CORPUS_UPDATE=1 rewrites the list from this run.

import test from 'ava';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCorpus, runMode, nixEvaluator, tsixEvaluator, Pool, MODES, caseKey, repoFile, TSIX_BIN, type Outcome } from './corpus-lib.js';

const KNOWN_FILE = repoFile('test/eval/corpus-known-failures.json');
const known: Record<string, string> = JSON.parse(readFileSync(KNOWN_FILE, 'utf8'));
const cases = loadCorpus();
const cwd = mkdtempSync(join(tmpdir(), 'tsix-corpus-'));
const nix = nixEvaluator(cwd);
const tsix = tsixEvaluator(cwd);
const pool = new Pool();
const outcomes: Outcome[] = [];

test.after.always(() => {
  rmSync(cwd, { recursive: true, force: true });
  if (process.env.TSIX_CORPUS_UPDATE === '1' && outcomes.length > 0) {
    const next: Record<string, string> = {};
    for (const o of outcomes.sort((a, b) => (a.key < b.key ? -1 : 1))) {
      if (!o.pass) next[o.key] = known[o.key] ?? `not yet: ${o.detail.slice(0, 300)}`;
    }
    writeFileSync(KNOWN_FILE, JSON.stringify(next, null, 2) + '\n');
  }
});

test('the corpus is well formed and its known failures name real cases', (t) => {
  t.true(existsSync(TSIX_BIN), `the built CLI is missing: ${TSIX_BIN}`);
  t.true(cases.length >= 300, `only ${cases.length} cases`);
  const keys = new Set(cases.flatMap((c) => c.modes.map((m) => caseKey(c, m))));
  t.deepEqual(Object.keys(known).filter((k) => !keys.has(k)), [], 'known failures that are not corpus cases');
});

for (const mode of MODES) {
  const selected = cases.filter((c) => c.modes.includes(mode));
  if (selected.length === 0) continue;
  test(`corpus ${mode}: ${selected.length} cases agree with nix-instantiate --eval`, async (t) => {
    const results = await runMode(mode, selected, nix, tsix, pool);
    outcomes.push(...results);
    const nixBroken = results.filter((o) => o.nixFailedUnexpectedly).map((o) => o.key);
    t.deepEqual(nixBroken, [], 'cases whose Nix result does not fit their mode (fix the corpus)');
    const unexpected = results.filter((o) => !o.pass && !(o.key in known)).map((o) => `${o.key}: ${o.detail}`);
    t.deepEqual(unexpected, [], 'cases that differ from Nix and are not listed in corpus-known-failures.json');
    const stale = results.filter((o) => o.pass && o.key in known).map((o) => o.key);
    t.deepEqual(stale, [], 'listed as known failures but now agree with Nix: remove them from corpus-known-failures.json');
  });
}
