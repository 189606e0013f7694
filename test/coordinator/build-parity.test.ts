// The build corpus realised by tsix's coordinator (runc sandbox, inputs through a real FUSE
// mount) against nix-build in Nix's sandbox: same output paths, narHash and references.
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalSession } from '../../daemon/coordinator/local-session.js';
import { openStore } from '../../store/open-store.js';
import { formatHash } from '../../store/nix/hash.js';
import { storePathHashPart } from '../../store/nix/store-path.js';
import type { Store } from '../../store/store.js';
import { serveFiles } from '../helpers/http-files.js';
import { NIX_ENV, requireNix } from '../helpers/nix.js';
import { importClosureFromNix } from '../helpers/nix-import.js';
import { tempDir } from '../helpers/trees.js';
import { sourcePath } from '../helpers/paths.js';

const CORPUS = sourcePath('test/coordinator/corpus/parity.nix');
const NIX_BUILD = ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox', '--no-out-link'];

let work: Awaited<ReturnType<typeof tempDir>>;
let server: Awaited<ReturnType<typeof serveFiles>>;
const CRI_SOCKET = join(process.env.TSIX_CRI_DIR ?? '/tmp/tsix-cri', 'containerd.sock');
const BUILDERS: [string, string][] = [
  ['oci', 'oci://'],
  // test/setup/cri-up.sh (run by test/ci.sh) starts this containerd; without it the test fails, never skips.
  ['cri', `cri+unix://${CRI_SOCKET}`],
];

test.before(async () => {
  requireNix();
  work = await tempDir('tsix-build-parity-');
  server = await serveFiles({ 'data.txt': 'fetched data\n' });
});
test.after.always(async () => {
  await server?.close();
  await work?.cleanup();
});

function nixInfo(path: string): { narHash: string; references: string[] } {
  const [i] = JSON.parse(execFileSync('nix', ['path-info', '--json', path], { env: NIX_ENV, encoding: 'utf8' }));
  return { narHash: i.narHash, references: i.references };
}

for (const [name, builderUrl] of BUILDERS) {
test.serial(`the build corpus built with ${name} gives the same outputs, narHash and references as nix-build`, async (t) => {
  if (name === 'cri' && !existsSync(CRI_SOCKET)) t.fail(`containerd is not running at ${CRI_SOCKET}: run test/setup/cri-up.sh (test/ci.sh does)`);
  const store: Store = await openStore(`level://${join(work.dir, `store-${name}`)}`, { direct: true });
  t.teardown(() => store.close());
  const args = ['--arg', 'fetchBase', JSON.stringify(server.base)];
  const drvs = execFileSync('nix-instantiate', [CORPUS, ...args], { env: NIX_ENV, encoding: 'utf8' }).trim().split('\n').map((l) => l.replace(/!.*$/, ''));
  t.true(drvs.length >= 20, `${drvs.length} derivations`);
  // Asynchronously: nix-build's builtin:fetchurl downloads from the server this process runs.
  await promisify(execFile)('nix-build', [CORPUS, ...args, ...NIX_BUILD], { env: NIX_ENV });
  await importClosureFromNix(store, drvs);
  const session = await startLocalSession(store, { maxJobs: 2, builderUrl });
  let outputs: Map<string, string>[];
  try {
    outputs = await Promise.all(drvs.map((d) => session.coordinator.realise(d)));
  } finally {
    await session.close();
  }
  let compared = 0;
  for (const out of outputs) {
    for (const [name, path] of out) {
      const ours = await store.pathInfos.get(storePathHashPart(path));
      t.truthy(ours, `${path} (${name}) is in the tsix store`);
      const theirs = nixInfo(path);
      t.is(formatHash({ algo: 'sha256', digest: ours!.narHash }, 'sri'), theirs.narHash, `narHash of ${path}`);
      t.deepEqual(ours!.references, theirs.references, `references of ${path}`);
      compared++;
    }
  }
  t.true(compared >= 25, `${compared} outputs compared`);
  t.true(server.requests.includes('/data.txt'), 'builtin:fetchurl downloaded from the local server');
});
}
