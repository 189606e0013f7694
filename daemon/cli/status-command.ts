// `tsix status`: the daemon's running builds and recent failures.
import { openStore } from '../../store/open-store.js';
import { RemoteStore } from '../../store/remote/remote-store.js';
import { TsixError } from '../../store/errors.js';
import type { CliContext } from './command.js';

interface Status { running: string[]; failures: { drvPath: string; error: string; at: number }[]; mountPoint: string | null }

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const store = await openStore(ctx.storeUrl);
  try {
    if (!(store instanceof RemoteStore)) throw new TsixError('E_NO_DAEMON', 'no tsix daemon is running for this store');
    const s = await store.rpc.call('status') as Status;
    if (argv.includes('--json')) { ctx.stdout.write(JSON.stringify(s) + '\n'); return 0; }
    ctx.stdout.write(`mounted at: ${s.mountPoint ?? '(not mounted)'}\n`);
    ctx.stdout.write(`running builds: ${s.running.length}\n${s.running.map((d) => `  ${d}\n`).join('')}`);
    ctx.stdout.write(`recent failures: ${s.failures.length}\n${s.failures.map((f) => `  ${new Date(f.at).toISOString()} ${f.drvPath}: ${f.error.split('\n')[0]}\n`).join('')}`);
    return 0;
  } finally {
    await store.close();
  }
}
