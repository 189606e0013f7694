// Who may use the mount: other users only with --allow-other (build containers run as another
// uid), and listing the root only with --list-root.
import test from 'ava';
import { chmod, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { tsixOk } from '../helpers/cli.js';
import { tempDir } from '../helpers/trees.js';
import { writeFile, mkdir } from 'node:fs/promises';
import { requireFuse, sh, startDaemon } from './daemon-harness.js';

const NOBODY = ['--reuid', '65534', '--regid', '65534', '--clear-groups'];

test.before(async () => {
  await requireFuse();
});

async function storeWithPath(t: import('ava').ExecutionContext): Promise<{ dir: string; url: string; base: string }> {
  const tmp = await tempDir('tsix-access-');
  t.teardown(tmp.cleanup);
  // Other users must reach the mount point.
  await chmod(tmp.dir, 0o755);
  await mkdir(join(tmp.dir, 'src'));
  await writeFile(join(tmp.dir, 'src', 'file'), 'readable by all\n');
  const url = `level://${join(tmp.dir, 'store')}`;
  const base = basename((await tsixOk(['--store', url, 'store', 'add', join(tmp.dir, 'src')])).trim());
  return { dir: tmp.dir, url, base };
}

test('with --allow-other another uid can read the mount; with --list-root the root can be listed', async (t) => {
  const { dir, url, base } = await storeWithPath(t);
  const mnt = join(dir, 'mnt');
  await startDaemon(t, ['--store', url, '--allow-other', '--list-root'], mnt);
  t.is(await sh('setpriv', [...NOBODY, 'cat', join(mnt, base, 'file')]), 'readable by all\n');
  t.deepEqual((await sh('setpriv', [...NOBODY, 'ls', mnt])).trim().split('\n'), [base]);
  t.true((await readdir(mnt)).includes(base));
});

test('without --allow-other another uid cannot read the mount', async (t) => {
  const { dir, url, base } = await storeWithPath(t);
  const mnt = join(dir, 'mnt');
  await startDaemon(t, ['--store', url], mnt);
  t.is(await sh('cat', [join(mnt, base, 'file')]), 'readable by all\n', 'the owner can');
  const err = await sh('setpriv', [...NOBODY, 'cat', join(mnt, base, 'file')]).then(() => '', (e: { stderr: string }) => e.stderr);
  t.regex(err, /Permission denied/);
});
