// `tsix store sign --key-file FILE [-r] PATH...` and
// `tsix store verify-sigs [--trusted-public-key K]... [--sigs-needed N] [--no-contents] [--no-trust] [-r] PATH...`,
// with the semantics of `nix store sign` and `nix store verify` (exit status: 1 corrupted,
// 2 untrusted, 4 failed, or-ed). Also `tsix store generate-key NAME SECRET-FILE PUBLIC-FILE`.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { NotFoundError } from '../../store/errors.js';
import { openStore } from '../../store/open-store.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { loadSecretKeyFile } from '../../store/cache/endpoints.js';
import { formatSha256 } from '../../store/cache/hash-text.js';
import { hashPartOf } from '../../store/cache/narinfo.js';
import { isContentAddressed, parseTrustedKeys, withSignature } from '../../store/cache/path-meta.js';
import { countValidSignatures, generateKeyPair, keyMap, type PublicKey } from '../../store/cache/signing.js';
import { parseArgs } from './args.js';
import { UsageError, type CliContext } from './command.js';
import { repeatedFlag } from './copy-command.js';
import { storePathOfArg } from './store-path-arg.js';

/** Dispatches `sign`, `verify-sigs` (alias `verify` when given paths) and `generate-key`. */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'sign') return runSign(rest, ctx);
  if (sub === 'verify-sigs' || sub === 'verify') return runVerify(rest, ctx);
  if (sub === 'generate-key') return runGenerateKey(rest, ctx);
  throw new UsageError('usage: tsix store (sign|verify-sigs|generate-key) ...');
}

async function withLocalStore<T>(ctx: CliContext, f: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.storeUrl);
  try { return await f(store); } finally { await store.close(); }
}

function toStorePath(p: string): string {
  return storePathOfArg(p).path;
}

/** The PathInfos of `paths` (and their closures if `recursive`); throws NotFoundError for an unknown path. */
async function collect(store: Store, paths: string[], recursive: boolean): Promise<PathInfo[]> {
  const out = new Map<string, PathInfo>();
  const todo = paths.map(toStorePath);
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (out.has(p)) continue;
    const info = await store.pathInfos.get(hashPartOf(p));
    if (!info) throw new NotFoundError(`path '${p}' in ${store.url}`, { path: p });
    out.set(p, info);
    if (recursive) for (const r of info.references) if (!out.has(r)) todo.push(r);
  }
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

export async function runSign(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, { bool: ['--recursive'], value: ['--key-file'], alias: { '-r': '--recursive', '-k': '--key-file' } }, 'store sign');
  const keyFile = flags.get('--key-file');
  if (typeof keyFile !== 'string' || positional.length === 0) throw new UsageError('usage: tsix store sign --key-file FILE [-r] PATH...');
  const key = await loadSecretKeyFile(keyFile);
  return withLocalStore(ctx, async (store) => {
    let added = 0;
    for (const info of await collect(store, positional, flags.has('--recursive'))) {
      const signed = withSignature(info, key);
      if (signed.signatures.length !== info.signatures.length) {
        await store.pathInfos.put(signed);
        added++;
      }
    }
    ctx.stderr.write(`added ${added} signatures\n`);
    return 0;
  });
}

export interface VerifyOptions {
  keys: ReadonlyMap<string, PublicKey>;
  sigsNeeded: number;
  checkContents: boolean;
  checkTrust: boolean;
}

export interface VerifyOutcome { corrupted: boolean; untrusted: boolean; message: string | null }

/** Nix's verification of one path: NAR hash of the contents, and enough valid signatures (CA paths count as fully signed). */
export async function verifyPathInfo(store: Store, info: PathInfo, opts: VerifyOptions): Promise<VerifyOutcome> {
  if (opts.checkContents) {
    const h = createHash('sha256');
    let size = 0;
    for await (const c of dumpNar(store, info.node)) { h.update(c); size += c.length; }
    const got = h.digest();
    if (!got.equals(info.narHash) || size !== info.narSize) {
      return { corrupted: true, untrusted: false, message: `path '${info.path}' was modified! expected hash '${formatSha256(info.narHash)}', got '${formatSha256(got)}'` };
    }
  }
  if (opts.checkTrust) {
    const valid = isContentAddressed(info) ? Number.MAX_SAFE_INTEGER : countValidSignatures(info, info.signatures, opts.keys);
    if (valid < opts.sigsNeeded) return { corrupted: false, untrusted: true, message: `path '${info.path}' is untrusted` };
  }
  return { corrupted: false, untrusted: false, message: null };
}

export async function runVerify(argv: string[], ctx: CliContext): Promise<number> {
  const { flags, positional } = parseArgs(argv, {
    bool: ['--recursive', '--no-contents', '--no-trust'],
    value: ['--trusted-public-key', '--trusted-public-keys', '--sigs-needed'],
    alias: { '-r': '--recursive', '-n': '--sigs-needed' },
  }, 'store verify-sigs');
  if (positional.length === 0) throw new UsageError('usage: tsix store verify-sigs [--trusted-public-key KEY]... [--sigs-needed N] [--no-contents] [--no-trust] [-r] PATH...');
  const sigsNeeded = flags.has('--sigs-needed') ? Number(flags.get('--sigs-needed')) : 1;
  if (!Number.isInteger(sigsNeeded) || sigsNeeded < 0) throw new UsageError('store verify-sigs: --sigs-needed must be a non-negative integer');
  const keys = keyMap(parseTrustedKeys([...repeatedFlag(argv, ['--trusted-public-key', '--trusted-public-keys']), process.env.TSIX_TRUSTED_PUBLIC_KEYS ?? '']));
  const opts: VerifyOptions = { keys, sigsNeeded, checkContents: !flags.has('--no-contents'), checkTrust: !flags.has('--no-trust') };
  return withLocalStore(ctx, async (store) => {
    let corrupted = 0; let untrusted = 0; let failed = 0;
    let infos: PathInfo[] = [];
    const paths = positional.map(toStorePath);
    for (const p of paths) {
      try {
        infos.push(...await collect(store, [p], flags.has('--recursive')));
      } catch (err) {
        failed++;
        ctx.stderr.write(`error: ${(err as Error).message}\n`);
      }
    }
    infos = [...new Map(infos.map((i) => [i.path, i])).values()];
    for (const info of infos) {
      try {
        const r = await verifyPathInfo(store, info, opts);
        if (r.corrupted) corrupted++;
        if (r.untrusted) untrusted++;
        if (r.message) ctx.stderr.write(`error: ${r.message}\n`);
      } catch (err) {
        failed++;
        ctx.stderr.write(`error: path '${info.path}': ${(err as Error).message}\n`);
      }
    }
    ctx.stderr.write(`${infos.length} paths checked, ${untrusted} untrusted, ${corrupted} corrupted, ${failed} failed\n`);
    return (corrupted ? 1 : 0) | (untrusted ? 2 : 0) | (failed ? 4 : 0);
  });
}

/** Like `nix-store --generate-binary-cache-key NAME SECRET-FILE PUBLIC-FILE`. */
export async function runGenerateKey(argv: string[], _ctx: CliContext): Promise<number> {
  const { positional } = parseArgs(argv, {}, 'store generate-key');
  if (positional.length !== 3) throw new UsageError('usage: tsix store generate-key NAME SECRET-FILE PUBLIC-FILE');
  const [name, secretFile, publicFile] = positional as [string, string, string];
  const kp = generateKeyPair(name);
  await writeFile(secretFile, kp.secret, { mode: 0o600, flag: 'wx' });
  await writeFile(publicFile, kp.public, { flag: 'wx' });
  return 0;
}
