// `tsix daemon [--store URL] [--mount DIR] [--allow-other] [--list-root]`: runs in the
// foreground until SIGINT/SIGTERM, then unmounts and exits 0.
import { startDaemon } from '../daemon/daemon.js';
import { DaemonCoordinator } from '../coordinator/daemon-service.js';
import { defaultStoreUrl } from '../../store/store-url.js';
import { logger } from '../../store/log.js';
import { parseArgs } from './args.js';
import { UsageError, type CliContext } from './command.js';
import { readFile } from 'node:fs/promises';
import { serveBinaryCache } from '../http/binary-cache-server.js';
import { loadSecretKeyFile } from '../../store/cache/endpoints.js';
import { signMeta } from '../../store/cache/path-meta.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';

/** `--substituter`/`--trusted-public-key` flags become the layered store URL's parameters. */
function withSubstituters(url: string, argv: string[]): string {
  const params: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    if (flag !== '--substituter' && flag !== '--trusted-public-key') continue;
    const value = inline ?? argv[++i]!;
    params.push(`${flag.slice(2)}=${encodeURIComponent(value)}`);
  }
  if (!params.length) return url;
  return `${url}${url.includes('?') ? '&' : '?'}${params.join('&')}`;
}

const USAGE = 'usage: tsix daemon [--store URL] [--mount DIR] [--no-mount] [--allow-other] [--list-root] [--builder URL] [--max-jobs N] [--lookup-timeout SECONDS]\n'
  + '  [--substituter URL]... [--trusted-public-key NAME:KEY]... [--secret-key FILE]\n'
  + '  [--listen HOST:PORT [--compression none|zstd] [--allow-loopback-upload] [--upload-token-file FILE]]';

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, {
    bool: ['--allow-other', '--list-root', '--no-mount', '--keep-failed', '--allow-loopback-upload'],
    value: ['--store', '--mount', '--builder', '--max-jobs', '--lookup-timeout', '--substituter', '--trusted-public-key', '--secret-key', '--listen', '--compression', '--upload-token-file'],
    alias: { '-j': '--max-jobs' },
  }, 'daemon');
  if (positional.length) throw new UsageError(`daemon: unexpected argument '${positional[0]}'\n${USAGE}`);
  const storeUrl = withSubstituters((flags.get('--store') as string | undefined) ?? ctx.storeUrl ?? defaultStoreUrl(), argv);
  const secretKey = flags.has('--secret-key') ? await loadSecretKeyFile(flags.get('--secret-key') as string) : null;
  const mount = flags.get('--mount') as string | undefined;
  const log = logger('daemon');
  // Listen for signals before anything is mounted, so a signal at any time stops cleanly.
  const signal = new Promise<NodeJS.Signals>((res) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => res(s));
  });
  // A crash anywhere in the daemon still unmounts (else the mount point is left dead, ENOTCONN).
  const crashed = new Promise<'crashed'>((res) => {
    const onFatal = (err: unknown) => {
      ctx.stderr.write(`tsix daemon: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      res('crashed');
    };
    process.on('uncaughtException', onFatal);
    process.on('unhandledRejection', onFatal);
  });
  const coordinator = new DaemonCoordinator({
    builderUrl: flags.get('--builder') as string | undefined,
    maxJobs: Number(flags.get('--max-jobs') ?? 1),
    keepFailed: flags.has('--keep-failed'),
    ...(secretKey ? { sign: (info: PathInfo) => [signMeta(info, secretKey)] } : {}),
    ...(flags.has('--lookup-timeout') ? { lookupTimeoutMs: Number(flags.get('--lookup-timeout')) * 1000 } : {}),
  });
  const d = await startDaemon({
    wrapRoots: (base) => coordinator.wrapRoots(base),
    extendRpc: (rpc) => coordinator.extendRpc(rpc),
    storeUrl,
    mountPoint: flags.has('--no-mount') ? null : mount,
    allowOther: flags.has('--allow-other'),
    listRoot: flags.has('--list-root'),
  });
  await coordinator.start(d.store, d.fs?.mountPoint ?? null);
  const cache = flags.has('--listen') ? await serveBinaryCache(d.store, {
    listen: flags.get('--listen') as string,
    secretKey,
    compression: (flags.get('--compression') ?? 'none') as 'none' | 'zstd',
    allowLoopbackUpload: flags.has('--allow-loopback-upload'),
    uploadToken: flags.has('--upload-token-file') ? (await readFile(flags.get('--upload-token-file') as string, 'utf8')).trim() : null,
  }) : null;
  if (cache) ctx.stdout.write(`tsix daemon: serving a binary cache at ${cache.url}\n`);
  const where = d.fs ? `mounted at ${d.fs.mountPoint}` : 'not mounted';
  ctx.stdout.write(`tsix daemon: store ${d.store.url} ${where}${d.socketPath ? `, socket ${d.socketPath}` : ''}\n`);
  log.info({ store: d.store.url, mountPoint: d.fs?.mountPoint ?? null, socket: d.socketPath }, 'daemon ready');
  // Stop on a signal, or (exit 1) when the mount disappears under us: a supervisor can restart us.
  const reason = await Promise.race([signal, crashed, ...(d.fs?.lost ? [d.fs.lost.then(() => 'mount lost' as const)] : [])]);
  if (reason === 'mount lost') ctx.stderr.write(`tsix daemon: the mount at ${d.fs!.mountPoint} disappeared; stopping\n`);
  log.info({ reason }, 'stopping');
  // A second signal while stopping gives up on a clean stop.
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => process.exit(1));
  try {
    await cache?.close();
  } finally {
    // Unmount whatever else fails.
    try {
      await d.stop();
    } finally {
      await coordinator.close();
    }
  }
  ctx.stdout.write('tsix daemon: stopped\n');
  // fuse-native's threads do not let the event loop end on their own.
  const code = reason === 'mount lost' || reason === 'crashed' ? 1 : 0;
  setImmediate(() => process.exit(code));
  return code;
}
