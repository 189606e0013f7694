// Pure derivation code against real Nix 2.8: parse every .drv that nix-instantiate writes for the
// corpus, re-serialise it byte for byte, recompute its .drv path and output paths, and print the
// same JSON as `nix show-derivation`.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { parseDerivation, unparseDerivation, drvNameFromPath, DerivationParseError, type Derivation } from '../../eval/derivation/derivation.js';
import { computeOutputPaths, derivationStorePath, DerivationHasher } from '../../eval/derivation/hash-modulo.js';
import { showDerivationJson } from '../../eval/derivation/show-json.js';
import { hashPlaceholder } from '../../eval/derivation/placeholder.js';
import { nix, nixOk, outputLines, repoFile } from './nix-oracle.js';

const corpus = repoFile('test/derivation/fixtures/corpus.nix');

interface Oracle { drvPaths: string[]; closure: string[]; texts: Map<string, string> }
let oracle: Promise<Oracle> | null = null;

function getOracle(): Promise<Oracle> {
  oracle ??= (async () => {
    const drvPaths = [...new Set(outputLines(await nixOk('nix-instantiate', [corpus])).map((l) => l.replace(/!.*/, '')))];
    const closure = outputLines(await nixOk('nix-store', ['-qR', ...drvPaths])).filter((p) => p.endsWith('.drv'));
    const texts = new Map(closure.map((p) => [p, readFileSync(p, 'utf8')]));
    return { drvPaths, closure, texts };
  })();
  return oracle;
}

function parseAll(o: Oracle): Map<string, Derivation> {
  return new Map(o.closure.map((p) => [p, parseDerivation(o.texts.get(p)!, drvNameFromPath(p), p)]));
}

test('the corpus gives at least 100 derivations', async (t) => {
  const o = await getOracle();
  t.true(o.closure.length >= 100, `only ${o.closure.length} derivations`);
});

test('every .drv re-serialises byte-identically', async (t) => {
  const o = await getOracle();
  for (const [p, drv] of parseAll(o)) t.is(unparseDerivation(drv), o.texts.get(p)!, p);
});

test('.drv paths and output paths are recomputed exactly', async (t) => {
  const o = await getOracle();
  const drvs = parseAll(o);
  const hasher = new DerivationHasher((p) => {
    const d = drvs.get(p);
    if (!d) throw new Error(`not in closure: ${p}`);
    return d;
  });
  let outputs = 0;
  for (const [p, drv] of drvs) {
    t.is(derivationStorePath(drv), p, `drv path of ${p}`);
    const computed = computeOutputPaths(drv, hasher);
    for (const [name, o2] of drv.outputs) {
      t.is(computed.get(name), o2.path, `output ${name} of ${p}`);
      t.is(drv.env.has('__json') ? o2.path : drv.env.get(name), o2.path, `env ${name} of ${p}`);
      outputs++;
    }
  }
  t.true(outputs > 100);
});

test('show-derivation JSON equals nix show-derivation', async (t) => {
  const o = await getOracle();
  const drvs = parseAll(o);
  // One drv at a time and all at once (ordering of several).
  const some = o.closure.slice(0, 12);
  for (const p of some) {
    const want = await nixOk('nix', ['show-derivation', p]);
    t.is(showDerivationJson(new Map([[p, drvs.get(p)!]])), want, p);
  }
  const wantAll = await nixOk('nix', ['show-derivation', ...o.closure]);
  t.is(showDerivationJson(drvs), wantAll);
});

test('placeholder equals builtins.placeholder', async (t) => {
  const names = ['out', 'dev', 'bin', 'a b', 'ünï'];
  const got = await nixOk('nix-instantiate', ['--eval', '--strict', '--json', '-E', `map builtins.placeholder ${JSON.stringify(names).replace(/,/g, ' ')}`]);
  t.deepEqual(JSON.parse(got), names.map(hashPlaceholder));
});

test('the strict parser names the offset of what is wrong', async (t) => {
  const o = await getOracle();
  const text = o.texts.get(o.drvPaths[0]!)!;
  const name = drvNameFromPath(o.drvPaths[0]!);
  const cases: [string, RegExp][] = [
    ['', /expected 'Derive\(\[', found end of input at offset 0/],
    ['Derive(', /expected 'Derive\(\[', found 'Derive\(' at offset 0/],
    [text.slice(0, text.length - 1), /expected '\)', found end of input at offset \d+/],
    [text + ' ', /trailing data after the derivation at offset \d+/],
    [text.replace('"/bin/sh"', '"/bin/\\q"'), /invalid escape '\\q'/],
    [text.replace('[("out","/', '[("out","x/'), /bad path 'x\/nix\/store\/.*' in derivation at offset 15/],
    [text.replace('Derive([("out"', 'Derive([("z","","",""),("out"'), /output 'out' out of order \(after 'z'\) at offset 23/],
    [text.replace(/\[\("builder",/, '[("system","x"),("builder",'), /environment variable 'builder' out of order/],
  ];
  for (const [input, re] of cases) {
    const e = t.throws(() => parseDerivation(input, name, 'x.drv'), { instanceOf: DerivationParseError });
    t.regex(e!.message, re, JSON.stringify(input.slice(0, 60)));
    t.is((e as DerivationParseError).code, 'E_INVALID_INPUT');
  }
  // Nix itself also refuses a broken .drv (sanity of the oracle).
  const r = await nix('nix', ['show-derivation', '/nix/store/00000000000000000000000000000000-missing.drv']);
  t.not(r.code, 0);
});

test('damaged .drv text never crashes the parser: it parses to the same text or fails with an offset', async (t) => {
  const o = await getOracle();
  let seed = 12345;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const alphabet = '"\\,()[]/ab\n';
  let rejected = 0;
  for (const p of o.closure.slice(0, 20)) {
    const text = o.texts.get(p)!;
    const name = drvNameFromPath(p);
    const variants: string[] = [];
    for (let cut = 0; cut < text.length; cut += Math.max(1, Math.floor(text.length / 40))) variants.push(text.slice(0, cut));
    for (let k = 0; k < 60; k++) {
      const i = rand(text.length);
      variants.push(text.slice(0, i) + alphabet[rand(alphabet.length)] + text.slice(i + 1));
      variants.push(text.slice(0, i) + text.slice(i + 1 + rand(5)));
    }
    for (const v of variants) {
      try {
        const d = parseDerivation(v, name, p);
        t.is(unparseDerivation(d), v);
      } catch (e) {
        t.true(e instanceof DerivationParseError, `${(e as Error).message} for ${JSON.stringify(v.slice(0, 80))}`);
        t.regex((e as Error).message, /at offset \d+/);
        rejected++;
      }
    }
  }
  t.true(rejected > 100);
});
