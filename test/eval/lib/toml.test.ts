// eval/lib/toml.ts against builtins.fromTOML of real Nix 2.8.

import test from 'ava';
import { fromTOML, TomlError, type TomlValue } from '../../../eval/lib/toml.js';
import { formatG, formatF } from '../../../eval/lib/format.js';
import { nixInstantiate, nixJson, nixStr } from './nix-oracle.js';

const GOOD = [
  '"" = 1', 'a.b = 1\n[a]', 'x = 1\n[a.b]\n[a]\nc = 1', 'a = 1e5', 'a = -0.0', 'a = nan', 'a = 1_000', 'a = -9223372036854775809',
  'a = 9223372036854775808', 'a = 0xFFFFFFFFFFFFFFFFFF', 'a = 0o17', 'a = 0b101', 'a = 0xdead_BEEF', 'a = [1,2,]', 'a = true\nb = false',
  'a = """\nx\\\n   y"""', "a = '''\nx'''", "a = '''x''''", 'a = """a""""', 'a = "\\u00e9\\U0001F600 \\b\\t\\n\\f\\r\\"\\\\"',
  '[[a]]\nb=1\n[[a]]\nb=2\n[a.c]\nd=1', 'a = [[1],["x"]]', 'a = "x" # c', '[a]\nb.c = 1\n[a.b]\nd = 2', 'a = 1e400', 'a = -1e400',
  'a = 1E+2', 'a = 3.0e-2', 'a = inf', 'a = +inf', 'a = -inf', 'a = 3.14159', 'a = +1', 'a = -0', 'a = 0', "'quoted key' = 'lit\\eral'",
  '"a.b" = 1\na . "c" . d = 2', 'a = {}', 'a = { x = 1, y = { z = [1] } }', 'a = [ # c\n 1, # d\n 2\n]', '# only a comment\n',
  '', '\n\n  \n', 'a = 1\r\nb = 2\r\n', '[ a . b ]\nc = 1', 'x = [ { a = 1 }, { b = 2 } ]', 'a = 6.02e23', 'a = 1.5e-10',
  'a = 123456789.125', 'fruit.apple.color = "red"\nfruit.apple.taste.sweet = true\n[fruit.orange]\nx = 1',
  '[[p]]\n[[p.v]]\nn = 1\n[[p.v]]\nn = 2\n[[p]]', 'a = """\n\n"""', 'a = "é ünï"', 'a = \'C:\\\\x\'', 'a = 1_2.3_4e1_0',
  'key-with-dash_and_underscore = 1\n1234 = 2', 'a = [ "x", \'y\', """z""" ]', 'a = """ \\  \n  b"""',
];

const BAD: [string, boolean][] = [
  ['a = {b=1,}', true], ['a = {b=1,\nc=2}', true], ['[a]\n[a]', true], ['a = 01', true], ['a = +0x1', true], ['a = 1.', true],
  ['a = .5', true], ['a = 1__0', true], ['a = 1979-05-27', true], ['a = 07:32:00', true], ['a = 1979-05-27T07:32:00Z', true],
  ['a = 1 b = 2', true], ['a = ', true], ['a = 1\na = 2', true], ['a = 0x_1', true], ['a = "x', false], ['a = "\\q"', false],
  ['= 1', true], ['a = 1\n= 2', true], ['a', false], ['[a', false], ['a = [1 2]', false], ['a.b = 1\na.b.c = 2', false], ['a = 1\n[a]', false],
  ['a = [1]\n[[a]]', false], ['a = {x=1}\n[a]', false], ['a = tru', false], ['a = 1_', false], ['a = 0b2', false],
  ['d = 1979-05-27\nx = ', true],
];

/** Values made comparable: ints and floats tagged, floats as Nix prints them (%g and %f). */
function typed(v: TomlValue): unknown {
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'number') return { float: [formatG(v), formatF(v)] };
  if (Array.isArray(v)) return v.map(typed);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typed(x)]));
  return v;
}

const NIX_TYPED = `let t = v: if builtins.isAttrs v then builtins.mapAttrs (_: t) v else if builtins.isList v then map t v
  else if builtins.isInt v then { int = toString v; } else if builtins.isFloat v then { float = [ (builtins.toJSON v) (toString v) ]; } else v; in t`;

test('documents Nix accepts parse to the same values (ints, floats, strings, tables)', async (t) => {
  const expected = await nixJson(`map (d: (${NIX_TYPED}) (builtins.fromTOML d)) [ ${GOOD.map(nixStr).join(' ')} ]`) as unknown[];
  GOOD.forEach((doc, k) => {
    let got: unknown;
    try { got = typed(fromTOML(doc)); } catch (e) { got = String(e); }
    t.deepEqual(got, expected[k], `document ${JSON.stringify(doc)}`);
  });
});

test('documents Nix refuses are refused, with toml11\'s first line where known', async (t) => {
  const results = await Promise.all(BAD.map(([doc]) => nixInstantiate(`builtins.fromTOML ${nixStr(doc)}`)));
  BAD.forEach(([doc, exact], k) => {
    t.false(results[k].ok, `nix accepted ${JSON.stringify(doc)}`);
    const err = t.throws(() => fromTOML(doc), { instanceOf: TomlError }, `document ${JSON.stringify(doc)}`);
    t.is(err?.code, 'E_EVAL');
    const mine = `error: ${err?.message}`;
    if (exact) t.is(mine, results[k].error ?? '', `document ${JSON.stringify(doc)}`);
    else t.true(mine.startsWith('error: while parsing a TOML string: ') && (results[k].error ?? '').startsWith('error: while parsing a TOML string: '));
  });
});
