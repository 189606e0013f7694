// The tsix command as npm installs it (daemon/cli/tsix): the malloc settings it gives Node, with a
// user's own GLIBC_TUNABLES still applied after them (later assignments win in glibc).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { sourcePath } from '../helpers/paths.js';

const LAUNCHER = sourcePath('daemon/cli/tsix');
const OURS = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';

function tunablesSeen(env: NodeJS.ProcessEnv): string {
  return execFileSync(LAUNCHER, ['eval', '-E', 'builtins.getEnv "GLIBC_TUNABLES"'], { env, encoding: 'utf8' }).trim();
}

test('the launcher sets its malloc tunables, and keeps the user\'s after them', (t) => {
  const { GLIBC_TUNABLES: _drop, ...base } = process.env;
  t.is(tunablesSeen(base), `"${OURS}"`);
  t.is(tunablesSeen({ ...base, GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576' }), `"${OURS}:glibc.malloc.mmap_threshold=1048576"`);
});
