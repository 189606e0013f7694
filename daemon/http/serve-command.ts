// `tsix serve-cache --listen HOST:PORT [--secret-key FILE] [--compression none|zstd] [--priority N]
//   [--upload-token-file FILE] [--allow-loopback-upload] [--upload-trusted-public-key KEY]...`:
// serves the store (--store) as a Nix binary cache until SIGINT/SIGTERM. The daemon embeds the
// same server through serveBinaryCache (see `tsix daemon --listen`).
import { readFile } from 'node:fs/promises';
import { openStore } from '../../store/open-store.js';
import { openLayeredStore } from '../../store/layered/layered-store.js';
import { loadSecretKeyFile } from '../../store/cache/endpoints.js';
import { parseTrustedKeys } from '../../store/cache/path-meta.js';
import { keyMap } from '../../store/cache/signing.js';
import { defaultStoreUrl } from '../../store/store-url.js';
import { parseArgs } from '../cli/args.js';
import { UsageError, type CliContext } from '../cli/command.js';
import { repeatedFlag } from '../cli/copy-command.js';
import { serveBinaryCache } from './binary-cache-server.js';

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { flags } = parseArgs(argv, {
    bool: ['--allow-loopback-upload'],
    value: ['--listen', '--secret-key', '--compression', '--priority', '--upload-token-file', '--upload-trusted-public-key'],
  }, 'serve-cache');
  const listen = flags.get('--listen');
  if (typeof listen !== 'string') throw new UsageError('usage: tsix serve-cache --listen HOST:PORT [--secret-key FILE] [--compression none|zstd] [--priority N] [--upload-token-file FILE] [--allow-loopback-upload] [--upload-trusted-public-key KEY]...');
  const compression = (flags.get('--compression') ?? 'none') as string;
  if (compression !== 'none' && compression !== 'zstd') throw new UsageError(`serve-cache: --compression must be none or zstd, not '${compression}'`);
  const priority = flags.has('--priority') ? Number(flags.get('--priority')) : undefined;
  if (priority !== undefined && !Number.isInteger(priority)) throw new UsageError('serve-cache: --priority must be an integer');
  const secretKey = flags.has('--secret-key') ? await loadSecretKeyFile(flags.get('--secret-key') as string) : null;
  const uploadToken = flags.has('--upload-token-file') ? (await readFile(flags.get('--upload-token-file') as string, 'utf8')).trim() : null;
  const uploadKeys = parseTrustedKeys(repeatedFlag(argv, ['--upload-trusted-public-key']));
  const store = await openLayeredStore(ctx.storeUrl ?? defaultStoreUrl(), (u) => openStore(u));
  try {
    const srv = await serveBinaryCache(store, {
      listen, secretKey, compression, priority, uploadToken,
      allowLoopbackUpload: flags.has('--allow-loopback-upload'),
      uploadTrust: uploadKeys.length ? { keys: keyMap(uploadKeys), requireSigs: true } : null,
    });
    ctx.stderr.write(`serving ${store.url} as a binary cache at ${srv.url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await srv.close();
    return 0;
  } finally {
    await store.close();
  }
}
