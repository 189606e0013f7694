// eval/lib/format.ts against the printing of real Nix 2.8 (--eval, --json, toString, toJSON).

import test from 'ava';
import { formatF, formatG, printFloat, floatToString, printString, printAttrName, jsonString } from '../../../eval/lib/format.js';
import { nixInstantiate, nixJson, nixStr } from './nix-oracle.js';

// Float literals as Nix reads them (strtod), so JS parses the same doubles.
const FLOATS = ['0.1', '1.0', '1.0e21', '123456789.0', '1.0e-5', '100000.0', '1000000.0', '999999.5', '999999.4', '0.0001',
  '0.00001', '0.000123456789', '1234565.0', '1234575.0', '0.0078125', '2.5', '0.5', '1.5', '3.0e-7', '5.0e-7', '5.0000001e-7',
  '1.7976931348623157e308', '2.2250738585072014e-308', '123.456', '0.333333333', '6.02214076e23', '9.999995',
  '9.9999949', '99999.95', '0.0000015', '1.0e100', '1.0e16', '12345678901234567890.0', '0.1e1', '1.0e7', '1.25', '1.0e-4',
  '9.9999e-5', '0.00009999995', '3.14159265358979', '2.0e21', '1.0e22', '4503599627370496.5', '0.015625', '0.0000005'];

const STRINGS = ['', 'a"b', 'back\\slash', 'dollar $ and ${x}', '$${', 'tab\tcr\rnl\n', 'é ü 😀', '\'\'', '$', 'a$', '\\${'];

test('floats print as nix-instantiate --eval, --json and toString print them', async (t) => {
  const lits = FLOATS.map((f) => `(${f})`).concat(FLOATS.map((f) => `(0 - ${f})`));
  const values = FLOATS.map(Number).concat(FLOATS.map((f) => 0 - Number(f)));
  const [plain, json, strs] = await Promise.all([
    nixInstantiate(`[ ${lits.join(' ')} ]`, ['--strict']),
    nixInstantiate(`[ ${lits.join(' ')} ]`, ['--strict', '--json']),
    nixJson(`map toString [ ${lits.join(' ')} ]`),
  ]);
  t.is(plain.stdout, `[ ${values.map(printFloat).join(' ')} ]\n`);
  t.is(json.stdout, `[${values.map(printFloat).join(',')}]`); // --json prints no newline
  t.deepEqual(values.map(floatToString), strs);
});

test('%g and %f agree with C for other precisions', async (t) => {
  // Both go through glibc printf; Nix exposes only precision 6, so check the helpers against node-independent facts.
  t.is(formatG(0.0001, 6), '0.0001');
  t.is(formatG(100000, 6), '100000');
  t.is(formatG(1e6, 6), '1e+06');
  t.is(formatF(0.0078125, 6), '0.007812');
  t.is(formatF(0.0000005, 6), '0.000000');
  t.is(formatF(2.5, 0), '2');
  t.is(formatF(1e21, 6), '1000000000000000000000.000000');
  t.is(formatG(Infinity), 'inf');
  t.is(formatG(-Infinity), '-inf');
  t.is(formatG(NaN), 'nan');
  t.is(formatG(-0), '-0');
});

test('strings and attribute names print as Nix prints them', async (t) => {
  const names = STRINGS.concat(['abc', 'a-b', "a'b", '1a', '_x', 'if', 'then', 'a.b', 'A9_-\'']);
  const [plain, attrs] = await Promise.all([
    nixInstantiate(`[ ${STRINGS.map(nixStr).join(' ')} ]`, ['--strict']),
    nixInstantiate(`builtins.listToAttrs (map (n: { name = n; value = 1; }) [ ${names.map(nixStr).join(' ')} ])`, ['--strict']),
  ]);
  t.is(plain.stdout, `[ ${STRINGS.map(printString).join(' ')} ]\n`);
  const sorted = [...new Set(names)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  t.is(attrs.stdout, `{ ${sorted.map((n) => `${printAttrName(n)} = 1; `).join('')}}\n`);
});

test('strings in JSON are escaped as Nix 2.8 escapes them', async (t) => {
  const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join('').slice(1) + 'é😀\u2028';
  const strs = [...STRINGS, all, '\b\f\u0001\u001f\u007f'];
  const [plain, viaToJSON] = await Promise.all([
    nixInstantiate(`[ ${strs.map(nixStr).join(' ')} ]`, ['--strict', '--json']),
    nixJson(`map builtins.toJSON [ ${strs.map(nixStr).join(' ')} ]`),
  ]);
  t.is(plain.stdout, `[${strs.map(jsonString).join(',')}]`);
  t.deepEqual(viaToJSON, strs.map(jsonString));
});
