// Second step of `npm run build` (and of `npm ci`, through "prepare"), after tsc: bundles the
// command line into one script (esbuild) and has Node make a start-up snapshot of it
// (`node --build-snapshot`), which the `tsix` launcher hands to Node for every command but the
// servers. For `tsix eval`, whose modules the snapshot holds initialised, loading
// tsix's ESM modules one by one (resolving, reading, compiling, running 30 files) was ~45 ms of
// `tsix eval -E 1`'s 100 ms. A snapshot holds the state of one Node binary and one checkout:
// `for` records both, and the launcher falls back to main.js when either changed, or when tsc
// rewrote dist after the snapshot was made. Building the snapshot is optional: without esbuild
// (a production install) or on any failure, a warning is printed and the launcher runs main.js.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = fileURLToPath(new URL('../../../', import.meta.url));
const ROOT = dirname(DIST);
const OUT = join(DIST, 'snapshot');
const ENTRY = join(DIST, 'daemon', 'cli', 'snapshot', 'entry.js');
const MAIN = join(DIST, 'daemon', 'cli', 'main.js');

/**
 * Runs first in the bundle. The snapshot builder's `require` loads only Node's own modules: npm
 * packages (native addons among them) cannot be in a snapshot, so they are required at run time,
 * from the checkout, and asking for one while the snapshot is built is an error (a module
 * initialised into the snapshot must not need one).
 */
function banner(): string {
  const from = JSON.stringify(pathToFileURL(MAIN).href);
  return `"use strict";
var require = ((builtin) => {
  const { builtinModules, createRequire } = builtin('node:module');
  const own = new Set(builtinModules);
  let user = null;
  return (id) => {
    if (id.startsWith('node:') || own.has(id)) return builtin(id);
    if (builtin('node:v8').startupSnapshot.isBuildingSnapshot()) throw new Error('the start-up snapshot cannot hold the package ' + id);
    return (user ??= createRequire(${from}))(id);
  };
})(require);`;
}

/** Each module's import.meta.url becomes its own dist file's URL (a bundle has no module URLs). */
const moduleUrls = {
  name: 'module-urls',
  setup(b: { onLoad(o: { filter: RegExp }, cb: (a: { path: string }) => { contents: string; loader: 'js' }): void }): void {
    b.onLoad({ filter: /\.js$/ }, (a) => ({
      contents: readFileSync(a.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href)),
      loader: 'js',
    }));
  },
};

async function bundle(file: string): Promise<void> {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [ENTRY], outfile: file, bundle: true, format: 'cjs', platform: 'node', target: 'node20',
    packages: 'external', supported: { 'dynamic-import': false }, banner: { js: banner() }, plugins: [moduleUrls], logLevel: 'error',
  });
}

/**
 * Node refuses a snapshot made under V8 flags other than its own (exit 14): it is made and tried
 * without NODE_OPTIONS, which the launcher then requires to be empty too.
 */
function snapshot(script: string, blob: string): void {
  const { NODE_OPTIONS: _flags, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', script], { encoding: 'utf8', env });
  // Node warns that some of its own modules are "not yet fully verified" in snapshots: only failures matter.
  if (r.status !== 0) throw new Error(`node --build-snapshot failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  const v = spawnSync(process.execPath, ['--snapshot-blob', blob, MAIN, '--version'], { encoding: 'utf8', env });
  if (v.status !== 0 || !v.stdout.startsWith('tsix ')) throw new Error(`the snapshot made does not start (${v.status ?? v.signal}): ${v.stderr.trim()}`);
}

async function main(): Promise<void> {
  try {
    mkdirSync(OUT, { recursive: true });
    const script = join(OUT, 'cli.cjs');
    await bundle(script);
    // Renamed into place: a tsix starting meanwhile reads the old snapshot or the new one, whole.
    snapshot(script, join(OUT, 'cli.blob.new'));
    renameSync(join(OUT, 'cli.blob.new'), join(OUT, 'cli.blob'));
    writeFileSync(join(OUT, 'for.new'), `${ROOT}\n${realpathSync(process.execPath)}\n`);
    renameSync(join(OUT, 'for.new'), join(OUT, 'for'));
  } catch (err) {
    rmSync(OUT, { recursive: true, force: true });
    process.stderr.write(`tsix: no start-up snapshot (tsix eval starts ~45 ms slower): ${(err as Error).message}\n`);
  }
}

await main();
