// The NAR of a filesystem path, as `nix-store --dump PATH` writes it: lstat (the root symlink
// is not followed), entries in byte order of their raw names, executable = owner-x bit.
// Every asynchronous filesystem call is a thread-pool round trip in Node (~15 µs of overhead
// each, 4 per small file), so by default the dumper uses synchronous calls, each blocking the
// event loop for one short syscall; with `blocking: false` (for servers) the lstat/readlink/read
// of the next entries of a directory run concurrently instead, ahead of the writer.
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import { NAR_TOKENS, narPad } from './nar-format.js';

const OUT_SIZE = 256 * 1024;
/** Files up to this size are read whole, ahead of the writer. */
const SMALL_FILE = 64 * 1024;
const READ_SIZE = 1024 * 1024;
/** Entries of a directory prepared concurrently ahead of the one being written. */
const LOOKAHEAD = 16;
const ZERO8 = Buffer.alloc(8);
const SLASH = Buffer.from('/');

/** A file type NAR cannot hold (socket, device, fifo). */
export class UnsupportedFileTypeError extends InvalidInputError {
  constructor(path: string) {
    super('path', `file '${path}' has an unsupported type`, { path });
  }
}

class Out {
  private parts: Buffer[] = [];
  private bytes = 0;
  put(b: Buffer): void { this.parts.push(b); this.bytes += b.length; }
  putU64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32LE(n % 0x100000000, 0);
    b.writeUInt32LE(Math.floor(n / 0x100000000), 4);
    this.put(b);
  }
  putString(s: Buffer): void {
    this.putU64(s.length);
    this.put(s);
    this.put(ZERO8.subarray(0, narPad(s.length)));
  }
  get full(): boolean { return this.bytes >= OUT_SIZE; }
  take(): Buffer[] {
    if (this.bytes === 0) return [];
    const b = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return [b];
  }
}

/** What is known about an entry before it is written. */
interface Prepared { path: Buffer; st: Stats; target?: Buffer; data?: Buffer }

async function readSmall(path: Buffer, size: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    // One byte more than lstat said, to see a file that grew; a file that changes while it is
    // dumped gives whatever was read (the length is written after the read, so the NAR is valid).
    let buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got === buf.length) { const b2 = Buffer.allocUnsafe(buf.length * 2); buf.copy(b2); buf = b2; }
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

function readSmallSync(path: Buffer, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === buf.length) { const b2 = Buffer.allocUnsafe(buf.length * 2); buf.copy(b2); buf = b2; }
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function prepareSync(path: Buffer): Prepared {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return { path, st, target: readlinkSync(path, { encoding: 'buffer' }) };
  if (st.isFile() && st.size <= SMALL_FILE) return { path, st, data: readSmallSync(path, st.size) };
  return { path, st };
}

async function prepare(path: Buffer): Promise<Prepared> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return { path, st, target: await readlink(path, { encoding: 'buffer' }) };
  if (st.isFile() && st.size <= SMALL_FILE) return { path, st, data: await readSmall(path, st.size) };
  return { path, st };
}

function noop(): void {}

interface Frame { names: Buffer[]; prefix: Buffer; next: number; ahead: Promise<Prepared>[]; started: number; blocking: boolean }

function fetchAhead(f: Frame): void {
  if (f.blocking) return;
  const limit = Math.min(f.names.length, f.next + LOOKAHEAD);
  for (; f.started < limit; f.started++) {
    const p = prepare(Buffer.concat([f.prefix, f.names[f.started]!]));
    p.catch(noop); // awaited in order later; no unhandled rejection if the consumer stops early
    f.ahead.push(p);
  }
}

export interface DumpPathOptions {
  /** Use synchronous filesystem calls (default true: fastest; pass false inside a server). */
  blocking?: boolean;
}

/** Streams the NAR of `path` (Buffer paths throughout, so non-UTF-8 names survive). */
export async function* dumpPathNar(path: string | Buffer, opts: DumpPathOptions = {}): AsyncIterable<Buffer> {
  const blocking = opts.blocking ?? true;
  const out = new Out();
  out.put(NAR_TOKENS.magic);
  const stack: Frame[] = [];

  const start = async function* (p: Prepared): AsyncGenerator<Buffer, void> {
    out.put(NAR_TOKENS.open);
    const st = p.st;
    if (p.target) {
      out.put(NAR_TOKENS.typeSymlink);
      out.putString(p.target);
      out.put(NAR_TOKENS.close);
    } else if (st.isFile()) {
      out.put(NAR_TOKENS.typeRegular);
      if (st.mode & 0o100) out.put(NAR_TOKENS.executable);
      out.put(NAR_TOKENS.contents);
      if (p.data) {
        out.putU64(p.data.length);
        out.put(p.data);
        out.put(ZERO8.subarray(0, narPad(p.data.length)));
      } else {
        yield* (blocking ? bigContentsSync(p.path, st.size, out) : bigContents(p.path, st.size, out));
      }
      out.put(NAR_TOKENS.close);
    } else if (st.isDirectory()) {
      out.put(NAR_TOKENS.typeDirectory);
      const names = (blocking ? readdirSync(p.path, { encoding: 'buffer' }) : await readdir(p.path, { encoding: 'buffer' })).sort(Buffer.compare);
      const f: Frame = { names, prefix: Buffer.concat([p.path, SLASH]), next: 0, ahead: [], started: 0, blocking };
      fetchAhead(f);
      stack.push(f);
    } else {
      throw new UnsupportedFileTypeError(p.path.toString());
    }
  };

  const rootPath = typeof path === 'string' ? Buffer.from(path) : path;
  yield* start(blocking ? prepareSync(rootPath) : await prepare(rootPath));
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    if (f.next === f.names.length) {
      stack.pop();
      out.put(NAR_TOKENS.close);
      if (stack.length) out.put(NAR_TOKENS.close);
    } else {
      const name = f.names[f.next++]!;
      const pre = blocking ? prepareSync(Buffer.concat([f.prefix, name])) : await f.ahead.shift()!;
      fetchAhead(f);
      out.put(NAR_TOKENS.entryOpen);
      out.putString(name);
      out.put(NAR_TOKENS.node);
      const depth = stack.length;
      yield* start(pre);
      if (stack.length === depth) out.put(NAR_TOKENS.close);
    }
    if (out.full) yield* out.take();
  }
  yield* out.take();
}

/** A big file: its lstat size is written first, so a file that changes size is an error, as in Nix. */
async function* bigContents(path: Buffer, size: number, out: Out): AsyncGenerator<Buffer, void> {
  out.putU64(size);
  yield* out.take();
  const fh = await open(path, 'r');
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw new InvalidInputError('path', `file '${path}' changed size while being read (ended ${left} bytes early)`, { path: path.toString() });
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
  out.put(ZERO8.subarray(0, narPad(size)));
}

function* bigContentsSync(path: Buffer, size: number, out: Out): Generator<Buffer, void> {
  out.putU64(size);
  yield* out.take();
  const fd = openSync(path, 'r');
  try {
    if (!fstatSync(fd).isFile()) throw new UnsupportedFileTypeError(path.toString());
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, left));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) throw new InvalidInputError('path', `file '${path}' changed size while being read (ended ${left} bytes early)`, { path: path.toString() });
      left -= n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
  out.put(ZERO8.subarray(0, narPad(size)));
}
