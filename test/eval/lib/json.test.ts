// eval/lib/json.ts against builtins.fromJSON of real Nix 2.8: values and nlohmann's error messages.

import test from 'ava';
import { fromJSON, JsonParseError, type JsonValue } from '../../../eval/lib/json.js';
import { formatG, formatF } from '../../../eval/lib/format.js';
import { nixInstantiate, nixJson, nixStr } from './nix-oracle.js';

const GOOD = ['1', '-0', '0', '1.5', '-1.5e-3', '1E2', '1e+2', '"s"', 'null', 'true', 'false', '[]', '{}', ' 7 ', '\t\n\r[1]\n',
  '12345678901234', '9223372036854775807', '-9223372036854775808', '9223372036854775808', '18446744073709551615',
  '18446744073709551616', '-9223372036854775809', '123456789012345678901234567890', '0.1', '1e308',
  '{"a": [1, 2.5, "x", null, true, false, {"b": {}}], "c": -3}', '{"a": 1, "a": 2}', '"\\u00e9\\n\\t\\/\\\\\\"\\b\\f\\r"',
  '"\\ud83d\\ude00"', '"é 😀"', '[[[[]]]]', '{"":1}', '\ufeff[1]', '{"b":1,"a":{"c":[{}]}}', '"\\u0000x"'];

const BAD = ['{', '1 2', '', ' ', '[1,]', '[1 2]', '{"a" 1}', '{"a":1,}', '{1:2}', 'tru', 'nul', 'falsy', '-', '-a', '1.', '1.e3',
  '1e', '1e+', '01', '"abc', '"a\nb"', '"\\x"', '"\\u12"', '"\\ud800"', '"\\ud800\\u0041"', '"\\udc00"', '[1,2', '{"a":1', '{"a":1 "b":2}',
  ']', '}', ':', ',', 'x', '[1]]', '{"a":}', '1e400', '-1e400', '[\n1,\n2\n,]', '"\u0001"', '"\t"', '\ufeffx', 'é', '[é]', '"é\n"',
  '{"é":1 x}', 'NaN', 'Infinity', '+1', '.5'];

function typed(v: JsonValue): unknown {
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'number') return { float: [formatG(v), formatF(v)] };
  if (Array.isArray(v)) return v.map(typed);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typed(x)]));
  return v;
}

const NIX_TYPED = `let t = v: if builtins.isAttrs v then builtins.mapAttrs (_: t) v else if builtins.isList v then map t v
  else if builtins.isInt v then { int = toString v; } else if builtins.isFloat v then { float = [ (builtins.toJSON v) (toString v) ]; } else v; in t`;

test('JSON Nix accepts parses to the same values', async (t) => {
  const expected = await nixJson(`map (d: (${NIX_TYPED}) (builtins.fromJSON d)) [ ${GOOD.map(nixStr).join(' ')} ]`) as unknown[];
  GOOD.forEach((doc, k) => {
    let got: unknown;
    try { got = typed(fromJSON(doc)); } catch (e) { got = String(e); }
    t.deepEqual(got, expected[k], `document ${JSON.stringify(doc)}`);
  });
});

test('JSON Nix refuses is refused with the same message', async (t) => {
  const results = await Promise.all(BAD.map((doc) => nixInstantiate(`builtins.fromJSON ${nixStr(doc)}`)));
  BAD.forEach((doc, k) => {
    t.false(results[k].ok, `nix accepted ${JSON.stringify(doc)}`);
    const err = t.throws(() => fromJSON(doc), { instanceOf: JsonParseError }, `document ${JSON.stringify(doc)}`);
    t.is(err?.code, 'E_EVAL');
    t.is(`error: ${err?.message}`, results[k].error ?? '', `document ${JSON.stringify(doc)}`);
  });
});

test('deep nesting does not overflow the stack', (t) => {
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  let v = fromJSON(deep);
  let depth = 0;
  while (Array.isArray(v) && v.length > 0) { v = v[0]; depth++; }
  t.is(depth, 99999);
});
