// `tsix daemon --listen --secret-key`: real Nix substitutes a path the daemon holds, verified.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchDaemon, requireFuse, type DaemonProcess } from './daemon-harness.js';
import { tsix, tsixOk } from '../helpers/cli.js';
import { NIX_ENV, requireNix } from '../helpers/nix.js';
import { tempDir } from '../helpers/trees.js';

let work: Awaited<ReturnType<typeof tempDir>>;
let daemon: DaemonProcess | null = null;
test.before(async () => {
  requireNix();
  await requireFuse();
  work = await tempDir('tsix-listen-');
});
test.after.always(async () => {
  await daemon?.stop();
  await daemon?.kill();
  await work?.cleanup();
});

test.serial('nix-store -r substitutes from the daemon\'s binary cache and the path verifies', async (t) => {
  execFileSync('nix-store', ['--generate-binary-cache-key', 'tsix-test-1', join(work.dir, 'sk'), join(work.dir, 'pk')], { env: NIX_ENV });
  const store = `level://${join(work.dir, 'store')}`;
  daemon = await launchDaemon(['--store', store, '--listen', '127.0.0.1:0', '--secret-key', join(work.dir, 'sk')], join(work.dir, 'mnt'));
  const url = /serving a binary cache at (http:\/\/\S+)/.exec(daemon.stdout())?.[1];
  t.truthy(url, daemon.stdout());
  const src = join(work.dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'sub', 'data'), randomBytes(200_000));
  const path = (await tsixOk(['--store', store, 'store', 'add', src])).trim();
  const pk = (await readFile(join(work.dir, 'pk'), 'utf8')).trim();
  try {
    execFileSync('nix-store', ['-r', path, '--option', 'substituters', url!, '--option', 'trusted-public-keys', pk], { env: NIX_ENV, stdio: 'pipe' });
    execFileSync('nix-store', ['--verify-path', path], { env: NIX_ENV, stdio: 'pipe' });
    const ours = (await tsix(['--store', store, 'store', 'dump', path])).stdout;
    t.true(execFileSync('nix-store', ['--dump', path], { env: NIX_ENV, maxBuffer: 1 << 26 }).equals(ours), 'the NAR Nix stored equals ours');
  } finally {
    execFileSync('nix-store', ['--delete', path], { env: NIX_ENV, stdio: 'ignore' });
  }
});
