// NAR compression for binary caches. Node 20's zlib has gzip and brotli only, so xz, zstd and
// bzip2 run as Debian's `xz`, `zstd` and `bzip2` binaries, as streaming filters (stdin → stdout).
// Why processes and not npm packages: they are the reference implementations (multi-threaded zstd,
// liblzma), no install scripts or wasm heaps, and they run on another core in parallel with the
// hashing and ingest done here. Measured here through these filters on a 143 MiB NAR of shared
// libraries (loaded 2-core machine): decompress zstd ~570-660 MiB/s, xz ~55 MiB/s single-block
// (~110 with xz -T0 multi-block files), bzip2 ~29 MiB/s; compress zstd -3 ~290 MiB/s, -1 ~430 MiB/s.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliCompress, createBrotliDecompress, createGunzip, createGzip } from 'node:zlib';
import { TsixError } from '../errors.js';

/** Compression method names as narinfo files spell them. */
export type Compression = 'none' | 'xz' | 'zstd' | 'bzip2' | 'br' | 'gzip';

export const COMPRESSIONS: readonly Compression[] = ['none', 'xz', 'zstd', 'bzip2', 'br', 'gzip'];

/** File extension Nix gives NARs of each method (`nar/<filehash>.nar<ext>`). */
export const COMPRESSION_EXTENSIONS: Readonly<Record<Compression, string>> = {
  none: '', xz: '.xz', zstd: '.zst', bzip2: '.bz2', br: '.br', gzip: '.gz',
};

/** Compressed data that cannot be decompressed (corrupt, truncated) or a missing tool. */
export class CompressionError extends TsixError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_COMPRESSION', message, data);
  }
}

/** Bytes to (de)compress: any (async) iterable of buffers. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

async function* passThrough(source: ByteSource): AsyncIterable<Buffer> {
  for await (const c of source) yield Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

export function isCompression(s: string): s is Compression {
  return (COMPRESSIONS as readonly string[]).includes(s);
}

function checkMethod(method: string): Compression {
  if (!isCompression(method)) throw new CompressionError(`unsupported compression method '${method}' (supported: ${COMPRESSIONS.join(', ')})`, { method });
  return method;
}

const DECOMPRESS: Record<Exclude<Compression, 'none' | 'br' | 'gzip'>, [string, string[]]> = {
  xz: ['xz', ['-dc', '-T0']], // multi-threaded only for multi-block files (xz ≥ 5.4); Nix writes single-block ones
  zstd: ['zstd', ['-dcq', '--no-progress']],
  bzip2: ['bzip2', ['-dc']],
};

/** Decompresses a stream; errors (corrupt or truncated input) surface while iterating, as CompressionError. */
export function decompress(method: string, source: ByteSource): AsyncIterable<Buffer> {
  const m = checkMethod(method);
  if (m === 'none') return passThrough(source);
  if (m === 'br') return zlibFilter(createBrotliDecompress(), source, 'br');
  if (m === 'gzip') return zlibFilter(createGunzip(), source, 'gzip');
  const [cmd, args] = DECOMPRESS[m];
  return processFilter(cmd, args, source, `decompressing ${m}`);
}

/** Compresses a stream with `method`; `level` as the tool takes it (defaults: zstd 3, xz 6, bzip2 9). */
export function compress(method: string, source: ByteSource, level?: number): AsyncIterable<Buffer> {
  const m = checkMethod(method);
  const lv = level === undefined ? [] : [`-${level}`];
  switch (m) {
    case 'none': return passThrough(source);
    case 'zstd': return processFilter('zstd', ['-cq', '--no-progress', '-T0', ...lv], source, 'compressing zstd');
    case 'xz': return processFilter('xz', ['-c', '-T0', ...lv], source, 'compressing xz');
    case 'bzip2': return processFilter('bzip2', ['-c', ...lv], source, 'compressing bzip2');
    case 'br': return zlibFilter(createBrotliCompress(), source, 'br');
    case 'gzip': return zlibFilter(createGzip(), source, 'gzip');
  }
}

async function* zlibFilter(t: NodeJS.ReadWriteStream, source: ByteSource, what: string): AsyncIterable<Buffer> {
  const feeding = pipeline(Readable.from(source, { objectMode: false }), t as unknown as NodeJS.WritableStream).catch((e: unknown) => e);
  try {
    for await (const chunk of t as unknown as AsyncIterable<Buffer>) yield chunk;
  } catch (err) {
    const fed = await feeding;
    if (fed instanceof Error) throw fed;
    throw new CompressionError(`${what}: ${(err as Error).message}`);
  }
  const fed = await feeding;
  if (fed instanceof Error) throw fed;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null } | Error;

async function* processFilter(cmd: string, args: string[], source: ByteSource, what: string): AsyncIterable<Buffer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', resolve);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // The child may exit early on bad input, closing its stdin: that write error is not the cause.
  const feeding = pipeline(Readable.from(source, { objectMode: false }), child.stdin).then(() => null, (e: unknown) => e as Error);
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    const exit = await exited;
    const fed = await feeding;
    if (fed && !isPipeError(fed)) throw fed;
    if (exit instanceof Error) {
      throw new CompressionError(`${what}: cannot run '${cmd}': ${exit.message}${(exit as NodeJS.ErrnoException).code === 'ENOENT' ? ` (install Debian's ${cmd === 'xz' ? 'xz-utils' : cmd} package)` : ''}`, { cmd });
    }
    if (exit.code !== 0) {
      throw new CompressionError(`${what}: ${cmd} failed (${exit.signal ?? `exit code ${exit.code}`}): ${stderr.trim() || 'no message'}`, { cmd, stderr });
    }
    finished = true;
  } finally {
    if (!finished && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function isPipeError(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED';
}
