// The helper process that starts runc for the OCI backend (see spawner.ts): runs each command it
// is sent with stdin closed, its stdout and stderr sent back in messages as they arrive, and
// reports how it ended. It exits when tsix closes the channel (or dies).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { HelperReply, HelperRequest } from './spawner.js';

function reply(m: HelperReply): void {
  process.send?.(m);
}

process.on('message', (m: HelperRequest) => {
  let ended = false;
  const end = (r: HelperReply): void => {
    if (!ended) reply(r);
    ended = true;
  };
  try {
    const child = spawn(m.argv[0]!, m.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const relay = (data: Buffer): void => reply({ id: m.id, data });
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.on('error', (e) => end({ id: m.id, error: e.message }));
    child.on('close', (code, signal) => end({ id: m.id, code, signal }));
  } catch (e) {
    end({ id: m.id, error: (e as Error).message });
  }
});
process.on('disconnect', () => process.exit(0));
// A channel closed before this module ran gave its 'disconnect' to nobody.
if (!process.connected) process.exit(0);

// The channel's end in tsix may outlive tsix (a copy of it held elsewhere: seen once in CI, the
// helper then lived on and kept the pipes it shares with tsix open, so that whoever waited for
// tsix's output to end waited forever). A parent that has exited, reaped or not, ends it too.
const parent = process.ppid;
setInterval(() => {
  let state = 'gone';
  try { state = readFileSync(`/proc/${parent}/stat`, 'latin1').replace(/^.*\) /s, '')[0] ?? 'gone'; } catch { /* gone */ }
  if (process.ppid !== parent || state === 'Z' || state === 'X' || state === 'gone') process.exit(0);
}, 1000);
