// derivationStrict and the instantiation session against real Nix 2.8, driven through EvalOps
// over small test values (independent of the evaluator): each case is a Nix expression and the
// same attribute set as test values; .drv paths, bytes and output paths must agree, and what the
// session writes into a store must read back.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { derivationStrict, drvPathContext, outputContext, type EvalOps } from '../../eval/derivation/derivation-strict.js';
import { InstantiationSession, DerivationEvalError } from '../../eval/derivation/session.js';
import { findDerivationForOutput, readDerivation, readDerivationText } from '../../eval/derivation/record.js';
import { parseDerivation, drvNameFromPath } from '../../eval/derivation/derivation.js';
import { openStore } from '../../store/open-store.js';
import { nix, nixErrors, nixOk, outputLines, repoFile } from './nix-oracle.js';

// ---- test values ---------------------------------------------------------------------------
class Str { constructor(readonly s: string, readonly ctx: string[] = []) {} }
class Path { constructor(readonly path: string) {} }
type TV = string | Str | Path | number | boolean | null | TV[] | { [k: string]: TV };

function ops(session: InstantiationSession): EvalOps<TV> {
  const isAttrs = (v: TV): v is { [k: string]: TV } => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Str) && !(v instanceof Path);
  const coerce = (v: TV, ctx: Set<string>): string => {
    if (typeof v === 'string') return v;
    if (v instanceof Str) { v.ctx.forEach((c) => ctx.add(c)); return v.s; }
    if (v instanceof Path) { const p = session.copyPathToStore(v.path); ctx.add(p); return p; }
    if (typeof v === 'number') return String(v);
    if (v === true) return '1';
    if (v === false || v === null) return '';
    if (Array.isArray(v)) {
      let r = '';
      v.forEach((e, n) => { r += coerce(e, ctx); if (n < v.length - 1 && !(Array.isArray(e) && e.length === 0)) r += ' '; });
      return r;
    }
    if (v.outPath !== undefined) return coerce(v.outPath, ctx);
    throw new DerivationEvalError('cannot coerce a set to a string');
  };
  const json = (v: TV, ctx: Set<string>): string => {
    if (typeof v === 'string' || v instanceof Str || v instanceof Path) return JSON.stringify(coerce(v, ctx));
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (v === null) return 'null';
    if (Array.isArray(v)) return '[' + v.map((e) => json(e, ctx)).join(',') + ']';
    if (v.outPath !== undefined) return json(v.outPath, ctx);
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + json(v[k]!, ctx)).join(',') + '}';
  };
  const str = (v: TV): Str => { if (typeof v === 'string') return new Str(v); if (v instanceof Str) return v; throw new DerivationEvalError('value is not a string'); };
  return {
    attrs: (v) => { if (!isAttrs(v)) throw new DerivationEvalError('not a set'); return new Map(Object.entries(v)); },
    forceBool: (v) => { if (typeof v !== 'boolean') throw new DerivationEvalError('not a bool'); return v; },
    isNull: (v) => v === null,
    forceList: (v) => { if (!Array.isArray(v)) throw new DerivationEvalError('not a list'); return v; },
    forceStringNoCtx: (v) => { const s = str(v); if (s.ctx.length) throw new DerivationEvalError('has context'); return s.s; },
    forceString: (v, ctx) => { const s = str(v); s.ctx.forEach((c) => ctx.add(c)); return s.s; },
    coerceToString: coerce,
    toJSON: json,
  };
}

/** The `derivation` wrapper's result, reduced to what tests need: output values with context. */
function drv(session: InstantiationSession, attrs: { [k: string]: TV }): { drvPath: Str; out: { [o: string]: Str } } {
  const r = derivationStrict(ops(session), session, attrs);
  const out: { [o: string]: Str } = {};
  for (const [o, p] of r.outputs) out[o] = new Str(p, [outputContext(r.drvPath, o)]);
  return { drvPath: new Str(r.drvPath, [drvPathContext(r.drvPath)]), out };
}

const src = repoFile('test/derivation/fixtures/src');
const base = { name: 'base', system: 'x86_64-linux', builder: '/bin/sh', args: ['-c', 'echo > $out'] };
const NIX_BASE = `{ name = "base"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }`;

interface Case { title: string; nix: string; tsix: (s: InstantiationSession) => string }
const cases: Case[] = [
  { title: 'basic', nix: `derivation ${NIX_BASE}`, tsix: (s) => drv(s, base).drvPath.s },
  {
    title: 'types and escapes', nix: `derivation (${NIX_BASE} // { i = 42; t = true; f = false; n = null; l = [ "a" [ ] 1 [ "b" ] ]; q = "\\"\\\\\\n\\t\\r"; })`,
    tsix: (s) => drv(s, { ...base, i: 42, t: true, f: false, n: null, l: ['a', [], 1, ['b']], q: '"\\\n\t\r' }).drvPath.s,
  },
  {
    title: 'multiple outputs and a dev dependency',
    nix: `let m = derivation (${NIX_BASE} // { name = "m"; outputs = [ "out" "dev" ]; }); in derivation (${NIX_BASE} // { name = "u"; d = m.dev; o = "\${m}/x"; })`,
    tsix: (s) => { const m = drv(s, { ...base, name: 'm', outputs: ['out', 'dev'] }); return drv(s, { ...base, name: 'u', d: m.out.dev!, o: new Str(m.out.out!.s + '/x', m.out.out!.ctx) }).drvPath.s; },
  },
  {
    title: 'drvPath context pulls the closure',
    nix: `let a = derivation (${NIX_BASE} // { name = "a"; s = ${src}/hello.txt; }); b = derivation (${NIX_BASE} // { name = "b"; a = a; }); in derivation (${NIX_BASE} // { name = "c"; d = b.drvPath; })`,
    tsix: (s) => { const a = drv(s, { ...base, name: 'a', s: new Path(`${src}/hello.txt`) }); const b = drv(s, { ...base, name: 'b', a: a.out.out! }); return drv(s, { ...base, name: 'c', d: b.drvPath }).drvPath.s; },
  },
  {
    title: 'fixed output (recursive, base32) and its dependent',
    nix: `let f = derivation (${NIX_BASE} // { name = "f"; outputHashMode = "recursive"; outputHash = "sha256:0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; }); in derivation (${NIX_BASE} // { name = "g"; f = f; })`,
    tsix: (s) => { const f = drv(s, { ...base, name: 'f', outputHashMode: 'recursive', outputHash: 'sha256:0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59' }); return drv(s, { ...base, name: 'g', f: f.out.out! }).drvPath.s; },
  },
  {
    title: 'structured attrs',
    nix: `derivation (${NIX_BASE} // { __structuredAttrs = true; a = { z = 1; b = [ true null "x" ]; }; s = "q\\""; })`,
    tsix: (s) => drv(s, { ...base, __structuredAttrs: true, a: { z: 1, b: [true, null, 'x'] }, s: 'q"' }).drvPath.s,
  },
  {
    title: 'ignoreNulls and passAsFile',
    nix: `derivation (${NIX_BASE} // { __ignoreNulls = true; n = null; passAsFile = [ "big" ]; big = "text"; })`,
    tsix: (s) => drv(s, { ...base, __ignoreNulls: true, n: null, passAsFile: ['big'], big: 'text' }).drvPath.s,
  },
  {
    title: 'source directory and a filtered builtins.path',
    nix: `derivation (${NIX_BASE} // { d = ${src}/dir; f = builtins.path { path = ${src}/dir; name = "flt"; filter = p: t: t != "symlink"; }; })`,
    tsix: (s) => {
      const f = s.addPath({ fsPath: `${src}/dir`, name: 'flt', recursive: true, filter: (_p, t) => t !== 'symlink', expectedSha256: null });
      return drv(s, { ...base, d: new Path(`${src}/dir`), f: new Str(f, [f]) }).drvPath.s;
    },
  },
  {
    title: 'toFile with references',
    nix: `let a = builtins.toFile "a" "x"; b = builtins.toFile "b" "see \${a}"; in derivation (${NIX_BASE} // { b = b; })`,
    tsix: (s) => { const a = s.toFile('a', 'x', []); const b = s.toFile('b', `see ${a}`, [a]); return drv(s, { ...base, b: new Str(b, [b]) }).drvPath.s; },
  },
];

for (const c of cases) {
  test(`same .drv as Nix: ${c.title}`, async (t) => {
    const want = outputLines(await nixOk('nix-instantiate', ['-E', c.nix]))[0]!;
    const session = new InstantiationSession();
    const got = c.tsix(session);
    t.is(got, want);
    const store = await openStore('memory://');
    try {
      await session.flush(store);
      // Every .drv of the closure is stored byte-identically, and its outputs point back to it.
      for (const p of outputLines(await nixOk('nix-store', ['-qR', want]))) {
        if (!p.endsWith('.drv')) continue;
        t.is(await readDerivationText(store, p), readFileSync(p, 'utf8'), p);
        const d = (await readDerivation(store, p))!;
        for (const o of d.outputs.values()) t.is(await findDerivationForOutput(store, o.path), p);
        const info = (await store.pathInfos.get(p.slice(11, 43)))!;
        t.deepEqual(info.references, outputLines(await nixOk('nix-store', ['-q', '--references', p])).sort(), `references of ${p}`);
      }
      const closure = outputLines(await nixOk('nix-store', ['-qR', want]));
      type NixInfo = { path: string; narHash: string; narSize: number; ca?: string };
      // `nix path-info` takes a .drv to mean its outputs unless --derivation (which other paths refuse).
      const drvPaths = closure.filter((p) => p.endsWith('.drv'));
      const others = closure.filter((p) => !p.endsWith('.drv'));
      const nixInfos: NixInfo[] = [
        ...(JSON.parse(await nixOk('nix', ['path-info', '--json', '--derivation', ...drvPaths])) as NixInfo[]),
        ...(others.length ? JSON.parse(await nixOk('nix', ['path-info', '--json', ...others])) as NixInfo[] : []),
      ];
      t.is(nixInfos.length, closure.length);
      for (const ni of nixInfos) {
        const info = await store.pathInfos.get(ni.path.slice(11, 43));
        t.truthy(info, `stored: ${ni.path}`);
        t.is(`sha256-${info!.narHash.toString('base64')}`, ni.narHash, `narHash of ${ni.path}`);
        t.is(info!.narSize, ni.narSize, `narSize of ${ni.path}`);
        t.is(info!.ca, ni.ca ?? null, `ca of ${ni.path}`);
      }
    } finally {
      await store.close();
    }
  });
}

test('bad derivations fail as in Nix', async (t) => {
  const bad: [string, { [k: string]: TV }, RegExp][] = [
    [`derivation { name = "a"; builder = "/bin/sh"; }`, { name: 'a', builder: '/bin/sh' }, /required attribute 'system' missing/],
    [`derivation { name = "a"; system = "x"; }`, { name: 'a', system: 'x' }, /required attribute 'builder' missing/],
    [`derivation { name = "a b"; system = "x"; builder = "/bin/sh"; }`, { name: 'a b', system: 'x', builder: '/bin/sh' }, /contains illegal character ' '/],
    [`derivation { name = "a.drv"; system = "x"; builder = "/bin/sh"; }`, { name: 'a.drv', system: 'x', builder: '/bin/sh' }, /derivation names are not allowed to end in '.drv'/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputs = [ "out" "out" ]; }`, { name: 'a', system: 'x', builder: '/bin/sh', outputs: ['out', 'out'] }, /duplicate derivation output 'out'/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputs = [ "drv" ]; }`, { name: 'a', system: 'x', builder: '/bin/sh', outputs: ['drv'] }, /invalid derivation output name 'drv'/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputHash = "abc"; outputHashAlgo = "sha256"; }`, { name: 'a', system: 'x', builder: '/bin/sh', outputHash: 'abc', outputHashAlgo: 'sha256' }, /hash 'abc' has wrong length for hash type 'sha256'/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputHash = "abc"; }`, { name: 'a', system: 'x', builder: '/bin/sh', outputHash: 'abc' }, /hash 'abc' does not include a type, nor is the type otherwise known from context/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputHashMode = "foo"; }`, { name: 'a', system: 'x', builder: '/bin/sh', outputHashMode: 'foo' }, /invalid value 'foo' for 'outputHashMode' attribute/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputHash = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; outputHashAlgo = "sha256"; outputs = [ "out" "dev" ]; }`,
      { name: 'a', system: 'x', builder: '/bin/sh', outputHash: '0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59', outputHashAlgo: 'sha256', outputs: ['out', 'dev'] }, /multiple outputs are not supported in fixed-output derivations/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; x = { }; }`, { name: 'a', system: 'x', builder: '/bin/sh', x: {} }, /cannot coerce a set to a string/],
    [`derivation { name = "a"; system = "x"; builder = "/bin/sh"; __contentAddressed = true; }`, { name: 'a', system: 'x', builder: '/bin/sh', __contentAddressed: true }, /experimental Nix feature 'ca-derivations' is disabled/],
  ];
  for (const [expr, attrs, re] of bad) {
    const r = await nix('nix-instantiate', ['-E', expr]);
    t.not(r.code, 0, expr);
    t.regex(nixErrors(r.stderr), re, `Nix: ${expr}`);
    const e = t.throws(() => derivationStrict(ops(new InstantiationSession()), new InstantiationSession(), attrs));
    t.regex(e!.message, re, `tsix: ${expr}`);
  }
  const s = new InstantiationSession();
  const d = drv(s, base);
  const e = t.throws(() => s.toFile('x', d.out.out!.s, d.out.out!.ctx));
  t.regex(e!.message, /in 'toFile': the file named 'x' must not contain a reference to a derivation but contains \(!out!\/nix\/store\/.*-base\.drv\)/);
});

test('a parsed store derivation feeds hashing of its dependents', async (t) => {
  // A session that only knows the store (like a second `tsix instantiate` run) computes the same paths.
  const first = new InstantiationSession();
  const a = drv(first, { ...base, name: 'a' });
  const store = await openStore('memory://');
  try {
    await first.flush(store);
    const text = (await readDerivationText(store, a.drvPath.s))!;
    const second = new InstantiationSession({ loadDerivation: (p) => parseDerivation(text, drvNameFromPath(p), p), queryReferences: () => [] });
    const b1 = drv(first, { ...base, name: 'b', d: a.drvPath });
    const b2 = drv(second, { ...base, name: 'b', d: a.drvPath });
    t.is(b2.drvPath.s, b1.drvPath.s);
  } finally {
    await store.close();
  }
});
