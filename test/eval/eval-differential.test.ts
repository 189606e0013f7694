// Differential tests of the evaluator: each expression is evaluated by real nix-instantiate --eval
// and by tsix's evaluator (in process, and through `tsix eval` for the CLI cases); stdout, stderr
// and the exit status must be identical.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEvalArgs } from '../../eval/cli.js';
import { runEval } from '../../eval/run-eval.js';
import { HashingStoreAdapter } from '../../eval/hashing-store.js';
import { TSIX_BIN } from '../helpers/cli.js';

const NIX_ENV = { ...process.env, NIX_CONFIG: 'build-users-group =' };

function nix(flags: string[], cwd: string): { out: string; err: string; code: number } {
  const r = spawnSync('nix-instantiate', ['--eval', ...flags], { cwd, env: NIX_ENV, encoding: 'utf8' });
  if (r.error) throw new Error(`nix-instantiate is needed for this test: ${r.error.message}`);
  return { out: r.stdout, err: r.stderr.split('\n').filter((l) => !l.startsWith('warning: ')).join('\n'), code: r.status ?? -1 };
}

function tsixInProcess(flags: string[], cwd: string): { out: string; err: string; code: number } {
  let out = '', err = '';
  try {
    const code = runEval(parseEvalArgs(flags), cwd, null, { out: (s) => { out += s; }, err: (s) => { err += s; } }, new HashingStoreAdapter());
    return { out, err, code };
  } catch (e) {
    return { out, err: err + `error: ${(e as Error).message}\n`, code: 1 };
  }
}

const CLI = TSIX_BIN; // the launcher: `tsix eval` from its start-up snapshot
function tsixCli(flags: string[], cwd: string): { out: string; err: string; code: number } {
  const r = spawnSync(CLI, ['eval', ...flags], { cwd, encoding: 'utf8' });
  return { out: r.stdout, err: r.stderr, code: r.status ?? -1 };
}

const CASES: [string, string[]][] = [
  ['arith', ['-E', '[ (1 + 2) (7 - 10) (3 * 4) (7 / 2) (7.0 / 2) (1 + 2.5) (9223372036854775807 + 1) (-5 / 2) ]', '--strict']],
  ['precedence', ['-E', '[ (1 + 2 * 3) (!true || true) (1 < 2 == true) ([1] ++ [2] ++ [3]) ({a=1;} // {b=2;} // {a=3;}) (2 - 1 - 1) (true -> false) (-2 - -3) ({a.b=1;} ? a.b) ]', '--strict']],
  ['floats', ['-E', '[ 0.1 1.0e10 123456789.0 1.0e-7 (0.0 - 0.0) 1.0e21 100000.0 1000000.0 1.5e300 (1.0/3) ]', '--strict']],
  ['strings', ['-E', '[ "a\\nb\\t\\r\\"\\\\" "$${x}" "x$" "${"a"}${toString 1}" "\\${x}" ]', '--strict']],
  ['indented', ['-E', "''\n    a\n      b\n    ''$\{x} '''  ''\\n\n  ''", '--strict']],
  ['printing-lazy', ['-E', 'let x = {a=1;}; in { a = 1; b = x: x; c = [1 (2+3)]; d = builtins.map; e = [x x]; f = "s"; g = ./.; h = null; }']],
  ['printing-repeated', ['-E', 'let x = {a=1;}; l=[1]; in [x x l l [] [] {} {} (x: x) builtins.map (builtins.add 1)]', '--strict']],
  ['attrs', ['-E', 'rec { a = 1; b = a + 1; c.d = b; c.e = 3; "x y" = 4; ${"dyn"} = 5; inherit (c) d; }', '--strict']],
  ['let-with', ['-E', 'let a = 1; in with { a = 2; b = 3; }; with { b = 4; c = 5; }; [ a b c ]', '--strict']],
  ['lambdas', ['-E', 'let f = { a, b ? a + 1, ... }@args: [ a b (args ? c) ]; in [ (f { a = 1; }) (f { a = 1; b = 5; c = 0; }) ]', '--strict']],
  // Attribute order is the names' UTF-8 byte order (U+FFFD before astral characters, unlike UTF-16's).
  ['attr-order-utf8', ['-E', 'let s = { "\u{1F600}" = 1; "\u{FFFD}" = 2; z = 3; "\u00e9" = 4; }; in [ s (builtins.attrNames s) (builtins.attrNames (builtins.listToAttrs (map (n: { name = n; value = 1; }) (builtins.attrNames s)))) ]', '--strict']],
  // Sets sharing their names: listToAttrs and mapAttrs results, `//` of a set with its own mapAttrs, positions.
  ['attrs-shared-names', ['-E', 'with builtins; let s = { b = 1; a = 2; }; l = listToAttrs [ { name = "z"; value = 1; } { name = "a"; value = 2; } { name = "z"; value = 3; } ]; m = mapAttrs (n: v: v * 10) s; in [ (s // m) (l // mapAttrs (n: v: n) l) (attrNames (mapAttrs (n: v: v) l)) (attrValues (mapAttrs (n: v: n) l)) (unsafeGetAttrPos "a" (s // m)) (unsafeGetAttrPos "a" (m // s)) (unsafeGetAttrPos "a" (s // s)) (mapAttrs (n: v: v) (listToAttrs [])) ((mapAttrs (n: v: v) l).q or 0) (removeAttrs m [ "a" ]) (m == mapAttrs (n: v: v * 10) s) ]', '--strict']],
  // foldl' reuses its frames for bodies that keep none (see mayKeepEnv); the others keep theirs.
  ['foldl-frames', ['-E', "with builtins; let s = { a = 1; b = 2; }; in [ (foldl' (a: b: a + b) 0 [ 1 2 3 ]) (foldl' (acc: n: acc + s.${n}) 0 [ \"a\" \"b\" ]) (map (f: f 1) (foldl' (a: b: a ++ [ (x: x + b) ]) [ ] [ 1 2 3 ])) (foldl' (a: b: [ a b ]) 0 [ 1 2 3 ]) (foldl' (a: b: a // { ${toString b} = b; }) { } [ 1 2 3 ]) (map (f: f 10) (foldl' (a: b: a ++ [ (add b) ]) [ ] [ 1 2 ])) (foldl' (a: b: a ++ map (x: x + b) [ 1 ]) [ ] [ 1 2 3 ]) (with { q = 5; }; foldl' (a: b: a ++ [ (add q b) ]) [ ] [ 1 2 ]) (foldl' (a: b: a + b.x or 0) 0 [ { x = 1; } { } { x = 3; } ]) ]", '--strict']],
  // Calls of a function whose body keeps no frame reuse one (see callSpare): nested calls of it, and after an error.
  ['spare-frames', ['-E', "let g = d: d.x; h = a: b: b.x + a; l = [ { x = g (builtins.elemAt l 1); } { x = g { x = 1; }; } ]; t = builtins.tryEval (g { x = g { x = throw \"z\"; }; }); in [ (map g [ { x = builtins.head (map g [ { x = 5; } ]); } { x = 7; } ]) (map g l) t (g { x = 4; }) (g { x = g { x = 5; }; }) (builtins.foldl' h 0 [ { x = 1; } { x = builtins.foldl' h 10 [ { x = 2; } ]; } ]) (builtins.mapAttrs (n: v: n + v) { a = \"1\"; b = \"2\"; }) ]", '--strict']],
  ['builtins-lists', ['-E', 'with builtins; [ (map (x: x * 2) [1 2 3]) (filter (x: x > 1) [1 2 3]) (foldl\' (a: b: a + b) 0 [1 2 3]) (genList (x: x) 4) (sort lessThan [3 1 2]) (elemAt [1 2] 1) (length [1 2]) (concatLists [[1] [2]]) (partition (x: x > 1) [1 2 3]) (groupBy (x: toString x) [1 2 1]) ]', '--strict']],
  ['builtins-attrs', ['-E', 'with builtins; [ (attrNames { b = 1; a = 2; }) (attrValues { b = 1; a = 2; }) (mapAttrs (n: v: v + 1) { a = 1; }) (listToAttrs [ { name = "a"; value = 1; } ]) (removeAttrs { a = 1; b = 2; } [ "a" ]) (intersectAttrs { a = 1; } { a = 2; b = 3; }) (catAttrs "a" [ { a = 1; } {} ]) (functionArgs ({ a, b ? 1 }: a)) (zipAttrsWith (n: v: v) [ { a = 1; } { a = 2; } ]) ]', '--strict']],
  ['builtins-strings', ['-E', 'with builtins; [ (substring 1 2 "hello") (stringLength "héllo") (replaceStrings ["a" "b"] ["x" "yy"] "abc") (concatStringsSep "," ["a" "b"]) (toString [1 "a" null true false 1.5]) (baseNameOf "/a/b") (dirOf "/a/b") (match "a(b)?c" "ac") (split "(,)" "a,b") (compareVersions "1.2" "1.10") (parseDrvName "hello-2.1") (splitVersion "1.2pre3") (hashString "sha256" "abc") (toJSON { a = [ 1 "x" null 1.5 ]; }) (fromJSON "{\\"a\\": [1, 2.5, true]}") (typeOf 1.0) ]', '--strict']],
  ['tryEval', ['-E', 'with builtins; [ (tryEval (throw "x")) (tryEval (assert false; 1)) (tryEval 1) ]', '--strict']],
  ['equality', ['-E', 'let f = x: x; in [ (1 == 1.0) ({a=1;} == {a=1;}) (f == f) ([f] == [f]) ([1 2] < [1 3]) ("a" < "b") (null == null) ]', '--strict']],
  ['json', ['--json', '--strict', '-E', '{ a = [ 1 "x" null 1.5 true ]; b.c = "\\u0001\\n"; }']],
  ['xml', ['--xml', '--strict', '-E', '{ a = [ 1 "x" true null 1.5 (x: x) ({ a, b ? 1, ... }: 1) ]; }']],
  ['xml-lazy', ['--xml', '-E', '{ a = 1 + 1; }']],
  ['attr-path', ['-A', 'a.1.b', '-E', '{ a = [ 0 { b = 42; } ]; }']],
  ['args', ['--arg', 'x', '1 + 1', '--argstr', 'y', 'str', '-E', '{ x, y, z ? 3 }: [ x y z ]', '--strict']],
  ['err-undefined', ['-E', 'let a = 1;\n  b = c;\nin b']],
  ['err-infinite', ['-E', 'let x = x; in x']],
  ['err-throw', ['-E', 'throw "foo"']],
  ['err-abort', ['-E', 'abort "foo"']],
  ['err-assert', ['-E', 'assert 1 == 2; 1']],
  ['err-parse-eof', ['-E', '1 +']],
  ['err-missing-arg', ['-E', '({a, b}: a) {a=1;}']],
  ['err-unexpected-arg', ['-E', 'let f = {a}: a; in f {a=1; c=2;}']],
  ['err-add', ['-E', '1 + "a"']],
  ['err-call', ['-E', '1 2']],
  ['err-missing-attr', ['-E', '{ abc = 1; }.abd']],
  // lexer and parser edge cases
  ['paths-uris', ['-E', 'let x = "a"; in [ ./foo/${x}/bar ./. ../x http://example.com/a?b=c x:x ]', '--strict']],
  ['number-literals', ['-E', '[ .5 1. 0.5e3 00 07 1.5e-3 ]', '--strict']],
  ['legacy-let-curpos', ['-E', '[ (let { body = x; x = 1; }) __curPos ]', '--strict']],
  ['or-and-defaults', ['-E', 'let s = { a.b = 1; }; in [ (s.a.b or 5) (s.a.c or 6) ({}.a.b or 7) (s ? a.b) (s ? a.c) ]', '--strict']],
  ['associativity', ['-E', '[ (true -> false -> false) (1 - 2 - 3) (2 * 3 / 4) ([1] ++ [2] ++ [3]) ({ a = 1; } // { a = 2; } // { a = 3; }) (!true == false) (-1 - -1) ]', '--strict']],
  ['nested-attrs-merge', ['-E', '{ a = { b = 1; }; a.c = 2; x.y.z = 1; x.y.w = 2; "q r".s = 3; ${"d" + "yn"}.t = 4; }', '--strict']],
  ['string-escapes', ['-E', '[ "\\${" "$" "$$" "a$" "$${x}" "\u00e9" ]', '--strict']],
  ['indented-edge', ['-E', "[ ''ending dollar $'' ''$'' ''  a\n   b'' ''\n  x\n    ''\${y}\n'' ''''\t'' ]", '--strict']],
  ['cr-lf', ['-E', 'let\r\n  a = "x\r\ny";\r\nin a # c\r\n', '--strict']],
  ['lazy-printing', ['-E', 'let a = 1 + 1; x = { k = 1; }; in [ (builtins.seq a { inherit a; }) { inherit a; } (rec { b = c; c = 1; }) (builtins.mapAttrs (n: v: v) { m = 1; }) [ x x ] (with { w = 1; }; { v = w; }) true ]']],
  ['overrides-with', ['-E', 'let a = 1; in with { a = 2; b = 3; }; rec { c = a + b; __overrides = { d = 4; }; }', '--strict']],
  ['deep-strings', ['-E', 'with builtins; [ (toString [ 1 [ ] [ 2 ] null "x" ]) (toJSON { a = "\n\t\u0001"; }) (toXML [ 1 "a" ]) ]', '--strict']],
  ['context', ['-E', 'with builtins; let s = appendContext "x" { "/nix/store/00000000000000000000000000000000-a.drv" = { outputs = [ "out" ]; allOutputs = true; }; }; in [ (hasContext s) (getContext s) (unsafeDiscardStringContext s) (hasContext (unsafeDiscardStringContext s)) ]', '--strict']],
  ['versions', ['-E', 'with builtins; [ (compareVersions "1.0" "1.0pre1") (compareVersions "2.3a" "2.3") (splitVersion "1.2-beta3") (parseDrvName "nix-2.8.0pre-x") ]', '--strict']],
  ['regex', ['-E', 'with builtins; [ (match "[[:alpha:]]+([0-9]*)" "abc12") (split "(a)|b" "xaybz") (match "a|" "") ]', '--strict']],
  ['arith-edge', ['-E', '[ (builtins.div (-7) 2) (9223372036854775807 * 2) (builtins.bitXor 5 3) (builtins.ceil 1.5) (builtins.floor (-1.5)) (1 / 3.0) (0.1 + 0.2) (builtins.lessThan 1 1.5) ([1 2] < [1 2 3]) ]', '--strict']],
  // parse errors: bison token names, expectations and positions
  ['perr-int-attr', ['-E', 'let 1 = 2; in 1']],
  ['perr-missing-else', ['-E', 'if 1 then 2']],
  ['perr-eq-chain', ['-E', '1 == 2 == 3']],
  ['perr-or-kw', ['-E', 'let or = 1; in [ or ]']],
  ['perr-unterminated', ['-E', '"abc']],
  ['perr-unterminated-ind', ['-E', "''abc"]],
  ['perr-trailing-space', ['-E', 'x: ']],
  ['perr-attrpath', ['-E', '{ ${"a"} }']],
  ['perr-formals', ['-E', '{ a, b }']],
  ['perr-dup-attr', ['-E', '{ a = 1; a.b = 2; }']],
  ['perr-dup-formal', ['-E', '{ x, x }: 1']],
  ['perr-at', ['-E', 'x@y: 1']],
  ['perr-comment', ['-E', '/* x']],
  // evaluation errors and their positions
  ['eerr-if', ['-E', 'if 1 then 2 else 3']],
  ['eerr-concat', ['-E', '[1] ++ 1']],
  ['eerr-not', ['-E', '!1']],
  ['eerr-update', ['-E', '{a=1;} // 1']],
  ['eerr-interp', ['-E', '"${{}}"']],
  ['eerr-compare', ['-E', '1 < "a"']],
  ['eerr-select-trace', ['-E', '{a=1;}.a.b']],
  ['eerr-tojson', ['-E', 'builtins.toJSON (x: x)']],
  ['eerr-div', ['-E', '1 / 0']],
  ['eerr-with', ['-E', 'with 1; a']],
  ['eerr-lazy-json', ['--json', '-E', '[ (1 + 1) ]']],
  ['eerr-tryeval-abort', ['-E', 'builtins.tryEval (abort "x")']],
  ['eerr-autocall-missing', ['--arg', 'z', '1', '-E', '{ x ? 1,\n  y, ... }: x']],
  ['generic-closure', ['-E', 'with builtins; [ (length (genericClosure { startSet = [ { key = 0; } ]; operator = x: if x.key < 3000 then [ { key = x.key + 1; } { key = x.key; } ] else [ ]; })) (genericClosure { startSet = [ { key = 1; } { key = 2.5; } { key = 1.0; } ]; operator = x: [ ]; }) ]', '--strict']],
  ['eerr-generic-closure-kinds', ['--strict', '-E', 'builtins.genericClosure { startSet = [ { key = 1; } { key = "a"; } ]; operator = x: [ ]; }']],
  ['eerr-json-function', ['--json', '--strict', '-E', '{ a = 1; f = x: x; }']],
  // --show-trace: Nix's trace frames ("… while evaluating …"), innermost first; without it, the hint line
  ['trace-select', ['--show-trace', '-E', 'let a = { b = { c = throw "x"; }; }; in a.b.c']],
  ['trace-calls', ['--show-trace', '-E', 'let f = n: if n == 0 then throw "bottom" else f (n - 1); s = { g = x: f x; }; in s.g 2']],
  ['trace-lazy-apps', ['--show-trace', '-E', 'builtins.addErrorContext "while doing it" (builtins.head (builtins.map (x: x.y) [ {} ]))']],
  ['trace-strict-attrs', ['--show-trace', '--strict', '-E', '{ a = { b = [ { c = throw "deep"; } ]; }; }']],
  ['trace-builtins', ['--show-trace', '-E', '[ (builtins.genericClosure { operator = x: [ ]; }) (builtins.concatMap (x: x) [ 1 ]) ]', '--strict']],
  ['trace-listToAttrs', ['--show-trace', '-E', '(builtins.listToAttrs [ { name = "a"; value = throw "v"; } ]).a']],
  ['trace-json', ['--show-trace', '-E', 'builtins.toJSON { a = x: x; }']],
  ['trace-hint-strict', ['--strict', '-E', '{ a = throw "x"; }']],
  ['trace-hint-none', ['-E', 'let s = builtins.listToAttrs [ ]; in (s // { a = throw "x"; }).a']],
];

for (const [name, flags] of CASES) {
  test(`eval matches nix-instantiate: ${name}`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsix-eval-'));
    try {
      const want = nix(flags, dir);
      const got = tsixInProcess(flags, dir);
      t.is(got.out, want.out);
      t.is(got.err.trimEnd(), want.err.trimEnd());
      t.is(got.code === 0, want.code === 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('tsix eval CLI: deep recursion (10,000 calls), files, imports, trace order and --show-trace of imports', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsix-eval-'));
  try {
    writeFileSync(join(dir, 'lib.nix'), '{ x ? 1 }: { inc = n: n + x; }');
    writeFileSync(join(dir, 'default.nix'), 'let lib = import ./lib.nix {}; f = n: if n == 0 then 0 else 1 + f (n - 1); in builtins.trace "t" [ (lib.inc 1) (f 10000) ./lib.nix ]');
    writeFileSync(join(dir, 'bad.nix'), '{ x }:\nlet y = x.z;\nin { r = y + 1; }\n');
    writeFileSync(join(dir, 'top.nix'), 'let l = import ./bad.nix { x = {}; }; in l.r\n');
    for (const flags of [['--strict'], ['--strict', 'default.nix'], ['--strict', '-E', 'import ./.'],
      ['--show-trace', 'top.nix'], ['top.nix'], ['--show-trace', '-E', 'import ./top.nix'], ['-E', 'import ./top.nix'],
      // Deep enough to overflow the main thread's stack: the worker evaluates again, and every trace shows once.
      ['-E', 'let f = n: if n == 0 then 0 else builtins.trace n (1 + f (n - 1)); in f 12000'],
      ['-E', 'let f = n: if n == 0 then throw "bottom" else builtins.trace n (1 + f (n - 1)); in f 12000']]) {
      const want = nix(flags, dir);
      const got = tsixCli(flags, dir);
      t.is(got.out, want.out, flags.join(' '));
      t.is(got.err.trimEnd(), want.err.trimEnd(), flags.join(' '));
      t.is(got.code, want.code);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsix eval CLI: traces appear while the evaluation still runs, as Nix prints them', async (t) => {
  // An evaluation that runs for minutes; its first trace must show long before it ends.
  const expr = 'let l = builtins.genList (x: x) 100000; in builtins.foldl\' (a: i: builtins.trace i (builtins.foldl\' (x: y: x + y) a l)) 0 l';
  const child = spawn(CLI, ['eval', '-E', expr], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const seen = await new Promise<boolean>((resolve) => {
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('trace: 0\n')) resolve(true); });
    child.on('exit', () => resolve(false));
    setTimeout(() => resolve(false), 60_000); // the evaluation itself runs far longer than this
  });
  child.kill('SIGKILL');
  t.true(seen, `the first trace was shown before the evaluation ended: ${err.slice(0, 200)}`);
});
