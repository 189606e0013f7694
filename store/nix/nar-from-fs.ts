// The NAR of a filesystem path, as `nix-store --dump PATH` writes it: lstat (the root symlink
// is not followed), entries in byte order of their raw names, executable = owner-x bit.
import { lstat, open, opendir, readlink, readFile } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';
import { NAR_TOKENS, narPad } from './nar-format.js';

const OUT_SIZE = 256 * 1024;
const SMALL_FILE = 64 * 1024;
const READ_SIZE = 1024 * 1024;
const ZERO8 = Buffer.alloc(8);

class Out {
  private parts: Buffer[] = [];
  private bytes = 0;
  put(b: Buffer): void { this.parts.push(b); this.bytes += b.length; }
  putString(s: Buffer): void {
    const len = Buffer.allocUnsafe(8);
    len.writeUInt32LE(s.length % 0x100000000, 0);
    len.writeUInt32LE(Math.floor(s.length / 0x100000000), 4);
    this.put(len);
    this.put(s);
    this.put(ZERO8.subarray(0, narPad(s.length)));
  }
  putU64(n: number): void { const b = Buffer.allocUnsafe(8); b.writeUInt32LE(n % 0x100000000, 0); b.writeUInt32LE(Math.floor(n / 0x100000000), 4); this.put(b); }
  get full(): boolean { return this.bytes >= OUT_SIZE; }
  take(): Buffer[] {
    if (this.bytes === 0) return [];
    const b = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return [b];
  }
}

/** A file type NAR cannot hold (socket, device, fifo). */
export class UnsupportedFileTypeError extends InvalidInputError {
  constructor(path: string) {
    super('path', `file '${path}' has an unsupported type`, { path });
  }
}

/** Streams the NAR of `path` (Buffer paths are used throughout so non-UTF-8 names survive). */
export async function* dumpPathNar(path: string | Buffer): AsyncIterable<Buffer> {
  const out = new Out();
  out.put(NAR_TOKENS.magic);
  yield* dumpNode(typeof path === 'string' ? Buffer.from(path) : path, out);
  yield* out.take();
}

async function* dumpNode(path: Buffer, out: Out): AsyncGenerator<Buffer, void> {
  const st = await lstat(path);
  out.put(NAR_TOKENS.open);
  if (st.isSymbolicLink()) {
    out.put(NAR_TOKENS.typeSymlink);
    out.putString(await readlink(path, { encoding: 'buffer' }));
  } else if (st.isFile()) {
    out.put(NAR_TOKENS.typeRegular);
    if (st.mode & 0o100) out.put(NAR_TOKENS.executable);
    out.put(NAR_TOKENS.contents);
    yield* dumpContents(path, st.size, out);
  } else if (st.isDirectory()) {
    out.put(NAR_TOKENS.typeDirectory);
    const names: Buffer[] = [];
    const dir = await opendir(path, { encoding: 'buffer' as BufferEncoding });
    for await (const ent of dir) names.push(ent.name as unknown as Buffer);
    names.sort(Buffer.compare);
    const prefix = Buffer.concat([path, Buffer.from('/')]);
    for (const name of names) {
      out.put(NAR_TOKENS.entryOpen);
      out.putString(name);
      out.put(NAR_TOKENS.node);
      yield* dumpNode(Buffer.concat([prefix, name]), out);
      out.put(NAR_TOKENS.close);
      if (out.full) yield* out.take();
    }
  } else {
    throw new UnsupportedFileTypeError(path.toString());
  }
  out.put(NAR_TOKENS.close);
}

async function* dumpContents(path: Buffer, statSize: number, out: Out): AsyncGenerator<Buffer, void> {
  if (statSize <= SMALL_FILE) {
    const data = await readFile(path);
    out.putU64(data.length);
    out.put(data);
    out.put(ZERO8.subarray(0, narPad(data.length)));
    return;
  }
  // The length goes first, so a file that changes size while being read is an error, as in Nix.
  out.putU64(statSize);
  yield* out.take();
  const fh = await open(path, 'r');
  try {
    let left = statSize;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(READ_SIZE, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw new InvalidInputError('path', `file '${path}' changed size while being read (ended ${left} bytes early)`, { path: path.toString() });
      left -= bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
  out.put(ZERO8.subarray(0, narPad(statSize)));
}
