// The OCI backend's spawn helper: commands started from a small process, output relayed.
import test from 'ava';
import { Spawner } from '../../builder/oci/spawner.js';

test('a command runs in the helper: its output and errors arrive in order, its exit code and signal are reported', async (t) => {
  const s = new Spawner();
  try {
    const chunks: Buffer[] = [];
    const r = await s.run(['/bin/sh', '-c', 'for i in 1 2 3; do echo line-$i; done; sleep 0.2; echo err >&2; exit 7'], (c) => chunks.push(c));
    t.deepEqual(r, { code: 7, signal: null });
    t.is(Buffer.concat(chunks).toString(), 'line-1\nline-2\nline-3\nerr\n');
    t.deepEqual(await s.run(['/bin/sh', '-c', 'kill -TERM $$'], () => undefined), { code: null, signal: 'SIGTERM' });
    const both = await Promise.all([1, 2].map((i) => s.run(['/bin/sh', '-c', `exit ${i}`], () => undefined)));
    t.deepEqual(both.map((e) => e.code), [1, 2]);
  } finally {
    s.close();
  }
});

test('a command that cannot be started, and a lost helper, reject', async (t) => {
  const s = new Spawner();
  try {
    await t.throwsAsync(s.run(['/nonexistent/command'], () => undefined), { message: /ENOENT/ });
    const running = s.run(['/bin/sh', '-c', 'echo started; exec sleep 30'], () => process.kill(s.helperPid!, 'SIGKILL'));
    await t.throwsAsync(running, { message: /runc helper process exited/ });
    // The next command starts a new helper.
    t.deepEqual(await s.run(['/bin/true'], () => undefined), { code: 0, signal: null });
  } finally {
    s.close();
  }
});
