// Read-only evaluation with derivation support (what `nix-instantiate --eval` does): the project's
// evaluator with enableDerivations() prints the same values as Nix 2.8 for expressions that
// compute .drv paths, output paths, toFile and source paths, without writing anything.
import test from 'ava';
import { enableDerivations } from '../../eval/derivation/evaluator-adapter.js';
import { NixEvaluator } from '../../eval/nix-evaluator.js';
import { printJSON } from '../../eval/print.js';
import { nixOk, repoFile } from './nix-oracle.js';

const src = repoFile('test/derivation/fixtures/src');
const exprs = [
  `(derivation { name = "a"; system = "x"; builder = "/bin/sh"; }).drvPath`,
  `(derivation { name = "a"; system = "x"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; }).dev.outPath`,
  `let d = derivation { name = "a"; system = "x"; builder = "/bin/sh"; }; in [ d.type d.outputName (builtins.length d.all) d.drvAttrs.name ]`,
  `builtins.toFile "x" "hello"`,
  `"\${${src}/hello.txt}"`,
  `builtins.path { path = ${src}/dir; name = "d"; filter = p: t: t != "symlink"; }`,
  `builtins.placeholder "out"`,
  `(import <nix/fetchurl.nix> { url = "http://127.0.0.1:1/x"; sha256 = "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59"; }).outPath`,
  `builtins.unsafeDiscardOutputDependency (derivation { name = "a"; system = "x"; builder = "/bin/sh"; }).drvPath`,
];

test('values computed from derivations equal nix-instantiate --eval', async (t) => {
  const store = enableDerivations();
  const ev = new NixEvaluator({ store });
  for (const e of exprs) {
    const want = JSON.parse(await nixOk('nix-instantiate', ['--eval', '--strict', '--json', '-E', e]));
    const out: string[] = [];
    printJSON(ev.evalString(e, process.cwd()), true, new Set(), out);
    t.deepEqual(JSON.parse(out.join('')), want, e);
  }
});
