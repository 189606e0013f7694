// eval/lib/regex.ts against builtins.match / builtins.split of real Nix 2.8.

import test from 'ava';
import { nixMatch, nixSplit, RegexError } from '../../../eval/lib/regex.js';
import { nixInstantiate, nixJson, nixStr } from './nix-oracle.js';

const MATCH: [string, string][] = [
  ['ab', 'abc'], ['abc', 'abc'], ['a(b)(c)', 'abc'], ['[[:space:]]+([[:upper:]]+)[[:space:]]+', '  FOO   '],
  ['a**', 'aa'], ['()', ''], ['a{2}{3}', 'aaaaaa'], ['a|', 'a'], ['|a', ''], ['[]a]+', ']a'], ['[^]a]', 'b'],
  ['[\\]', '\\'], ['[\\]]', '\\]'], ['[a\\-z]', 'b'], ['[a-]', '-'], ['.', 'é'], ['(.)(.)', 'é'], ['(é|x)+', 'éxé'],
  ['[[.a.]]', 'a'], ['[[=a=]]', 'a'], ['[[.space.]]', ' '], ['a+?', 'a'], ['^a$', 'a'], ['a^', 'a'], ['$a', 'a'],
  ['[[:w:]]', '_'], [']', ']'], ['}', '}'], ['(a|b)*', 'ab'], ['a?*', 'a'], ['[---]', '-'], ['[%--]', '+'],
  ['\\{', '{'], ['\\|', '|'], ['\\^', '^'], ['\\$', '$'], ['\\.', '.'], ['\\.', 'a'], ['a{1}{2}', 'aa'],
  ['(a)|b', 'b'], ['.', ''], ['x*', ''], ['[[:upper:][:digit:]]+', 'A1'], ['[^[:space:]]+', 'ab'],
  ['a{2,3}', 'aaaa'], ['a{2,3}', 'aaa'], ['a{0}', ''], ['a{1,}', 'aaa'], ['a{01}', 'a'], ['[.]', 'a'], ['[[]', '['],
  ['[a]]', 'a]'], ['.*', 'a\nb'], ['(|a)', ''], ['([0-9]+)\\.([0-9]+)', '12.34'], ['[[:alpha:]_][[:alnum:]_]*', 'x_1'],
  ['(.*)/(.*)', 'a/b/c'], ['(.*?)', 'x'], ['[[:punct:]]+', '!@#'], ['[[:xdigit:]]+', 'fF0'], ['[^a-z]', 'é'],
  ['(a|b)?(){0,1}()?', ''], ['(a|b)?(){0,1}()?', 'a'], ['(x)?()?y', 'y'], ['(a?)?b', 'b'],
  ['([^/]+)\\.nix', 'default.nix'], ['(foo)?bar', 'bar'], ['a[^]]b', 'a]b'], ['a[^]]b', 'axb'],
];

const SPLIT: [string, string][] = [
  ['-', 'abc-def  gh'], ['( )+', 'abc-def  gh'], ['(x)?', 'abc'], ['', 'abc'], ['b|c', 'abcabc'], ['[a-z]*', 'abc-def  gh'],
  ['(a)|(d)', 'abc-def'], ['(.)', 'é'], ['x', 'éxé'], [',', ''], ['a', 'aaa'], ['(a)(b)?', 'aab'], ['$', 'ab'], ['^', 'ab'], ['(a|b)?(){0,1}()?', 'abab'], ['(x)?', ''],
];

const INVALID = ['*a', 'a{,2}', 'a{', 'a{x}', '[z-a]', '[[:foo:]]', '(', ')', 'x{2,1}', '{', 'a{1', 'a{1,2', '[a',
  '[[:alpha:]-z]', '[a-[:alpha:]]', '(a)\\1', '\\d', '\\', 'a|*b', '(*a)', '[]', '[^]', '(?:a)', '[[:alpha]]', '\\]', '\\/', '^*', '[a-c-e]'];

test('match agrees with Nix on the whole-string matches and their groups', async (t) => {
  const expected = await nixJson(`[ ${MATCH.map(([r, s]) => `(builtins.match ${nixStr(r)} ${nixStr(s)})`).join(' ')} ]`) as unknown[];
  MATCH.forEach(([r, s], k) => t.deepEqual(nixMatch(r, s), expected[k], `match ${JSON.stringify(r)} ${JSON.stringify(s)}`));
});

test('split agrees with Nix', async (t) => {
  const expected = await nixJson(`[ ${SPLIT.map(([r, s]) => `(builtins.split ${nixStr(r)} ${nixStr(s)})`).join(' ')} ]`) as unknown[];
  SPLIT.forEach(([r, s], k) => t.deepEqual(nixSplit(r, s), expected[k], `split ${JSON.stringify(r)} ${JSON.stringify(s)}`));
});

test('invalid patterns are rejected as Nix rejects them, with its message', async (t) => {
  const results = await Promise.all(INVALID.map((r) => nixInstantiate(`builtins.match ${nixStr(r)} ""`)));
  INVALID.forEach((r, k) => {
    t.false(results[k].ok, `nix accepted ${r}`);
    const err = t.throws(() => nixMatch(r, ''), { instanceOf: RegexError }, `pattern ${r}`);
    t.is(err?.code, 'E_EVAL');
    t.is(`error: ${err?.message}`, results[k].error ?? "(no error line)");
  });
});

test('a compiled pattern is cached', (t) => {
  t.deepEqual(nixMatch('a(b)', 'ab'), ['b']);
  t.deepEqual(nixMatch('a(b)', 'ab'), ['b']);
  t.deepEqual(nixSplit('a', 'bab'), ['b', [], 'b']);
  t.deepEqual(nixSplit('a', 'bab'), ['b', [], 'b']);
});
