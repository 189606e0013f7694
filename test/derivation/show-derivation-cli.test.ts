// `tsix show-derivation` reads derivations recorded in a LevelDB store and prints exactly what
// `nix show-derivation` prints for the same .drv paths (single, several, -r, by output path).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { drvNameFromPath, parseDerivation } from '../../eval/derivation/derivation.js';
import { InstantiationSession } from '../../eval/derivation/session.js';
import { readFileSync } from 'node:fs';
import { openStore } from '../../store/open-store.js';
import { nixOk, outputLines, repoFile } from './nix-oracle.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../../daemon/cli/main.js', import.meta.url));

async function tsix(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [main, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

test('show-derivation equals nix show-derivation for recorded derivations', async (t) => {
  const corpus = repoFile('test/derivation/fixtures/corpus.nix');
  const drvs = [...new Set(outputLines(await nixOk('nix-instantiate', [corpus, '-A', 'e-diamond', '-A', 'g-structured', '-A', 'f-sha512-sri', '-A', 'h-drvpath-src'])))];
  const closure = outputLines(await nixOk('nix-store', ['-qR', ...drvs])).filter((p) => p.endsWith('.drv'));
  // Record Nix's derivations through a session (as an instantiation would) into a LevelDB store.
  const dir = mkdtempSync(join(tmpdir(), 'tsix-showdrv-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const url = `level://${dir}`;
  const store = await openStore(url, { direct: true });
  try {
    await writeAll(store, closure);
  } finally {
    await store.close();
  }
  for (const p of drvs) {
    const r = await tsix(['--store', url, 'show-derivation', p]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, await nixOk('nix', ['show-derivation', p]), p);
  }
  const all = await tsix(['--store', url, 'show-derivation', ...drvs]);
  t.is(all.stdout, await nixOk('nix', ['show-derivation', ...drvs]));
  const rec = await tsix(['--store', url, 'show-derivation', '-r', drvs[0]!]);
  t.is(rec.stdout, await nixOk('nix', ['show-derivation', '-r', drvs[0]!]));
  // By output path (the drv-out index).
  const outPath = (await nixOk('nix-store', ['-q', '--outputs', drvs[0]!])).split('\n')[0]!;
  const byOut = await tsix(['--store', url, 'show-derivation', outPath]);
  t.is(byOut.stdout, await nixOk('nix', ['show-derivation', drvs[0]!]));
  const missing = await tsix(['--store', url, 'show-derivation', '/nix/store/00000000000000000000000000000000-missing.drv']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /error: path '\/nix\/store\/0{32}-missing\.drv' does not exist/);
  const bad = await tsix(['--store', url, 'show-derivation', '/tmp/not-a-store-path']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /not in the Nix store/);
});

/** Stores Nix's .drv files as text paths with their references and indexes their outputs. */
async function writeAll(store: Awaited<ReturnType<typeof openStore>>, drvPaths: string[]): Promise<void> {
  const { DRV_OUT_PREFIX } = await import('../../eval/derivation/session.js');
  const { derivationReferences } = await import('../../eval/derivation/hash-modulo.js');
  const s = new InstantiationSession();
  for (const p of drvPaths) {
    const text = readFileSync(p, 'utf8');
    const d = parseDerivation(text, drvNameFromPath(p), p);
    // toFile writes a text path exactly like a .drv (name, contents, references).
    const ctx = derivationReferences(d);
    const written = s.toFile(`${d.name}.drv`, text, ctx);
    if (written !== p) throw new Error(`text path ${written} != ${p}`);
    await store.meta.putMany([...d.outputs.values()].map((o) => [DRV_OUT_PREFIX + o.path, Buffer.from(p)]));
  }
  await s.flush(store);
}
