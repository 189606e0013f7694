// `tsix copy [--from URL] [--to URL] PATH...`: copies the closures of store paths between
// stores, as `nix copy` does. Either side is a tsix store URL (default: --store) or a binary
// cache (http(s)://, file:///). Paths the destination has are skipped. Copying from a binary
// cache checks signatures against --trusted-public-key (or $TSIX_TRUSTED_PUBLIC_KEYS) unless
// --no-check-sigs; content-addressed paths need none.
import { openStore } from '../../store/open-store.js';
import { defaultStoreUrl } from '../../store/store-url.js';
import { openDestination, openSource, loadSecretKeyFile } from '../../store/cache/endpoints.js';
import { parseTrustedKeys } from '../../store/cache/path-meta.js';
import { keyMap } from '../../store/cache/signing.js';
import { isBinaryCacheUrl } from '../../store/cache/substituter.js';
import { copyClosure, type TransferEvent } from '../../store/cache/transfer.js';
import { parseArgs } from './args.js';
import { UsageError, type CliContext } from './command.js';
import { storePathOfArg } from './store-path-arg.js';

const USAGE = 'usage: tsix copy [--from URL] [--to URL] [--no-check-sigs] [--trusted-public-key KEY]... [--secret-key FILE] [--compression xz|zstd|bzip2|none] [-j N] PATH...';

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, {
    bool: ['--no-check-sigs', '--quiet'],
    value: ['--from', '--to', '--trusted-public-key', '--trusted-public-keys', '--secret-key', '--compression', '--jobs'],
    alias: { '-j': '--jobs', '-q': '--quiet' },
  }, 'copy');
  const from = flags.get('--from') as string | undefined;
  const to = flags.get('--to') as string | undefined;
  if (!from && !to) throw new UsageError(`copy: give --from URL and/or --to URL\n${USAGE}`);
  if (positional.length === 0) throw new UsageError(`copy: no store paths given\n${USAGE}`);
  const local = ctx.storeUrl ?? defaultStoreUrl();
  const srcUrl = from ?? local;
  const dstUrl = to ?? local;
  const jobs = flags.has('--jobs') ? Number(flags.get('--jobs')) : 4;
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`copy: --jobs must be a positive integer`);

  const roots = positional.map((p) => storePathOfArg(p).path);
  const keyTexts = [...repeatedFlag(argv, ['--trusted-public-key', '--trusted-public-keys']), process.env.TSIX_TRUSTED_PUBLIC_KEYS ?? ''];
  // Signatures matter only when paths become valid in a tsix store (as Nix's checkSigs).
  const requireSigs = !flags.has('--no-check-sigs') && isBinaryCacheUrl(srcUrl) && !isBinaryCacheUrl(dstUrl);
  const policy = { keys: keyMap(parseTrustedKeys(keyTexts)), requireSigs };
  const secretKey = flags.has('--secret-key') ? await loadSecretKeyFile(flags.get('--secret-key') as string) : null;

  const src = await openSource(srcUrl, policy, (u) => openStore(u));
  try {
    const dst = await openDestination(dstUrl, { secretKey, compression: flags.get('--compression') as string | undefined }, (u) => openStore(u));
    try {
      const progress = flags.has('--quiet') ? () => {} : progressDisplay(ctx.stderr, dst.side.name);
      try {
        await copyClosure(src.side, dst.side, roots, { jobs, onEvent: progress });
      } finally {
        progress({ kind: 'finished' });
      }
      return 0;
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** Every value of a flag that may repeat (parseArgs keeps the last one only). */
export function repeatedFlag(argv: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (names.includes(a)) out.push(argv[++i] ?? '');
    else for (const n of names) if (a.startsWith(`${n}=`)) out.push(a.slice(n.length + 1));
  }
  return out;
}

/**
 * On a TTY, one status line redrawn at most 10 times a second (paths and MiB done/total);
 * otherwise Nix's "copying path '…' from '…'..." lines.
 */
export function progressDisplay(out: NodeJS.WriteStream, destName: string): (e: TransferEvent | { kind: 'finished' }) => void {
  const tty = out.isTTY === true;
  let total = 0; let totalBytes = 0; let done = 0; let bytes = 0; let last = 0; let shown = false;
  // Transfers start while the closure is still being looked up: without a TTY, their lines wait
  // for the "copying N paths..." line, which Nix prints first.
  let held: string[] | null = [];
  const line = (text: string) => { if (held) held.push(text); else out.write(text); };
  const release = () => { for (const l of held ?? []) out.write(l); held = null; };
  const running = new Set<string>();
  const mib = (n: number) => (n / 1048576).toFixed(1);
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const cur = [...running].map((p) => p.slice(44)).slice(0, 2).join(', ');
    // Until the closure is planned its size is unknown: '?' rather than a total that is not one.
    const status = held
      ? `[${done}/? paths, ${mib(bytes)} MiB to ${destName}, still looking up the closure] ${cur}`
      : `[${done}/${total} paths, ${mib(bytes)}/${mib(totalBytes)} MiB to ${destName}] ${cur}`;
    out.write(`\r\x1b[K${status.slice(0, (out.columns ?? 100) - 1)}`);
    shown = true;
  };
  return (e) => {
    switch (e.kind) {
      case 'planned':
        total = e.paths.length; totalBytes = e.narBytes;
        if (!tty && total > 0) out.write(`copying ${total} paths...\n`);
        release();
        break;
      case 'start':
        running.add(e.path);
        if (tty) draw(); else line(`copying path '${e.path}' from '${e.from}'...\n`);
        break;
      case 'bytes':
        bytes += e.bytes;
        if (tty) draw();
        break;
      case 'done':
        running.delete(e.path); done++;
        if (tty) draw();
        break;
      case 'finished':
        release();
        if (tty && shown) { draw(true); out.write('\n'); }
        break;
    }
  };
}
