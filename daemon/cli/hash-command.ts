// `tsix hash path|file|to-base16|to-base32|to-base64|to-sri`, printing exactly what `nix hash`
// (Nix 2.8) prints: sha256 and SRI by default, the last format flag wins, one line per argument.
import { TsixError } from '../../store/errors.js';
import { formatHash, hashFile, hashStream, parseHash, parseHashAlgo, type HashAlgo, type HashFormat } from '../../store/nix/hash.js';
import { dumpPathNar } from '../../store/nix/nar-from-fs.js';
import { UsageError, type CliContext } from './command.js';

const SUBCOMMANDS = ['file', 'path', 'to-base16', 'to-base32', 'to-base64', 'to-sri'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

const USAGE = `usage: tsix hash path|file [--type md5|sha1|sha256|sha512] [--base16|--base32|--base64|--sri] PATH...
       tsix hash to-base16|to-base32|to-base64|to-sri [--type md5|sha1|sha256|sha512] HASH...
`;

/** A file that cannot be read, with Nix's wording. */
export class FileAccessError extends TsixError {
  constructor(message: string, path: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException).code;
    super(errno === 'ENOENT' ? 'E_NOT_FOUND' : 'E_INVALID_INPUT', message, { path, errno }, { cause });
  }
}

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory', EACCES: 'Permission denied', EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory', ELOOP: 'Too many levels of symbolic links',
};

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e.code && STRERROR[e.code]) ?? e.message;
}

interface Parsed { algo: HashAlgo | null; format: HashFormat; args: string[] }

function parseArgs(sub: Sub, argv: string[]): Parsed {
  const p: Parsed = { algo: null, format: 'sri', args: [] };
  const hashing = sub === 'file' || sub === 'path';
  let onlyArgs = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (onlyArgs || !a.startsWith('-') || a === '-') { p.args.push(a); continue; }
    if (a === '--') { onlyArgs = true; continue; }
    if (a === '--type') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError("flag '--type' requires 1 argument(s)");
      p.algo = parseHashAlgo(v);
    } else if (hashing && (a === '--base16' || a === '--base32' || a === '--base64' || a === '--sri')) {
      p.format = a.slice(2) as HashFormat;
    } else if (a === '--help' || a === '-h') {
      throw new UsageError(USAGE.trimEnd());
    } else {
      throw new UsageError(`unrecognised flag '${a}'`);
    }
  }
  return p;
}

async function hashOne(sub: 'file' | 'path', algo: HashAlgo, path: string) {
  if (sub === 'file') {
    try {
      return await hashFile(algo, path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') throw new FileAccessError(`reading from file: ${describe(e)}`, path, e);
      throw new FileAccessError(`opening file '${path}': ${describe(e)}`, path, e);
    }
  }
  try {
    return (await hashStream(algo, dumpPathNar(path))).hash;
  } catch (e) {
    if (e instanceof TsixError) throw e;
    throw new FileAccessError(`getting status of '${(e as NodeJS.ErrnoException).path ?? path}': ${describe(e)}`, path, e);
  }
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const sub = argv[0];
  if (sub === undefined) throw new UsageError("'tsix hash' requires a sub-command.\n" + USAGE.trimEnd());
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`'${sub}' is not a recognised command\n${USAGE.trimEnd()}`);
  const s = sub as Sub;
  const p = parseArgs(s, argv.slice(1));
  if (s === 'file' || s === 'path') {
    const algo = p.algo ?? 'sha256';
    for (const path of p.args) ctx.stdout.write(formatHash(await hashOne(s, algo, path), p.format) + '\n');
    return 0;
  }
  const format = s.slice(3) as HashFormat;
  for (const h of p.args) ctx.stdout.write(formatHash(parseHash(h, p.algo ?? undefined), format) + '\n');
  return 0;
}
