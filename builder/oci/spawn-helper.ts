// The helper process that starts runc for the OCI backend (see spawner.ts): runs each command it
// is sent with stdin closed, its stdout and stderr sent back in messages as they arrive, and
// reports how it ended. It exits when tsix closes the channel (or dies).
import { spawn } from 'node:child_process';
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
