// eval/lib/xml.ts against builtins.toXML / --xml of real Nix 2.8.

import test from 'ava';
import { renderXml, xmlScalar, xmlAttr, xmlFunction, escapeXmlAttr, type XmlNode } from '../../../eval/lib/xml.js';
import { printFloat } from '../../../eval/lib/format.js';
import { nixJson, nixInstantiate, nixStr } from './nix-oracle.js';

const NASTY = 'q"uote <lt> &amp\nnl \ttab é ${x}';

test('toXML of a value tree is byte-identical to Nix', async (t) => {
  const expr = `{ s = ${nixStr(NASTY)}; i = -3; f = 1.5; b = true; n = null; l = [ 1 "x" [] {} ]; e = {}; "z y" = 2;
    fa = { a, b ? 1, ... }@args: a; fb = x: x; fc = { c, a }: c; }`;
  const expected = await nixJson(`builtins.toXML (${expr})`) as string;
  const tree: XmlNode = { name: 'expr', children: [{ name: 'attrs', children: [
    xmlAttr('b', xmlScalar.bool(true)), xmlAttr('e', { name: 'attrs', children: [] }), xmlAttr('f', xmlScalar.float(printFloat(1.5))),
    xmlAttr('fa', xmlFunction('args', { names: ['b', 'a'], ellipsis: true })), xmlAttr('fb', xmlFunction('x', null)),
    xmlAttr('fc', xmlFunction('', { names: ['c', 'a'], ellipsis: false })), xmlAttr('i', xmlScalar.int(-3)),
    xmlAttr('l', { name: 'list', children: [xmlScalar.int(1), xmlScalar.string('x'), { name: 'list', children: [] }, { name: 'attrs', children: [] }] }),
    xmlAttr('n', xmlScalar.null()), xmlAttr('s', xmlScalar.string(NASTY)), xmlAttr('z y', xmlScalar.int(2)),
  ] }] };
  t.is(renderXml(tree), expected);
});

test('--xml output with positions matches Nix', async (t) => {
  const r = await nixInstantiate('{ a = 1; }', ['--xml']);
  const pos = { file: '(string)', line: 1, column: 3 };
  const tree: XmlNode = { name: 'expr', children: [{ name: 'attrs', children: [xmlAttr('a', xmlScalar.int(1), pos)] }] };
  t.is(r.stdout, renderXml(tree).replace('(string)', (r.stdout.match(/path="([^"]*)"/) ?? ['', ''])[1]));
  t.is(escapeXmlAttr('<"&>\n'), '&lt;&quot;&amp;&gt;&#xA;');
});
