// Chunks appended to pack files (<dir>/packs/NNNNNN.pack); LevelDB maps digest → location.
// A location is written only after its bytes are in the pack, so a crash leaves at worst
// unreferenced bytes, never a reference to missing ones.
import { mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptionError } from '../errors.js';
import { KEY, key, type Kv, type KvOp } from '../kv/kv.js';
import type { ChunkRead, ChunkStore } from './chunk-store.js';
import type { Digest } from './nodes.js';

const PACK_LIMIT = 1 << 30;

interface Location { pack: number; offset: number; length: number }

function encodeLocation(l: Location): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32LE(l.pack, 0);
  b.writeUInt32LE(l.offset % 0x100000000, 4);
  b.writeUInt32LE(Math.floor(l.offset / 0x100000000), 8);
  b.writeUInt32LE(l.length, 12);
  return b;
}

function decodeLocation(b: Buffer): Location {
  if (b.length !== 16) throw new CorruptionError('chunk location record is malformed');
  return { pack: b.readUInt32LE(0), offset: b.readUInt32LE(4) + b.readUInt32LE(8) * 0x100000000, length: b.readUInt32LE(12) };
}

export class PackChunkStore implements ChunkStore {
  private readonly readers = new Map<number, Promise<FileHandle>>();
  private writer: { pack: number; fh: FileHandle; size: number } | null = null;
  /** Chunks being written by this process: their locations once known. */
  private readonly pending = new Map<string, Promise<Buffer>>();

  private constructor(private readonly kv: Kv, private readonly dir: string) {}

  static async open(kv: Kv, dir: string): Promise<PackChunkStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new PackChunkStore(kv, dir);
  }

  async locate(d: Digest): Promise<Buffer | null> {
    const p = this.pending.get(d.toString('latin1'));
    if (p) return p;
    return this.kv.get(key(KEY.chunk, d));
  }

  async get(d: Digest): Promise<Buffer | null> {
    const loc = await this.locate(d);
    return loc ? this.read(decodeLocation(loc)) : null;
  }

  /** Reads runs of chunks that lie next to each other in one pack with one pread. */
  async readAt(chunks: ChunkRead[], into?: Buffer): Promise<Buffer[]> {
    const locs = chunks.map((c) => decodeLocation(c.location));
    const out: Promise<Buffer[]>[] = [];
    let at = 0;
    for (let i = 0; i < locs.length;) {
      let j = i + 1;
      let end = locs[i]!.offset + locs[i]!.length;
      while (j < locs.length && locs[j]!.pack === locs[i]!.pack && locs[j]!.offset === end) end += locs[j++]!.length;
      const run = locs.slice(i, j);
      const length = end - run[0]!.offset;
      const target = into && at + length <= into.length ? into.subarray(at, at + length) : undefined;
      at += length;
      out.push(this.read({ pack: run[0]!.pack, offset: run[0]!.offset, length }, target).then((buf) => {
        let off = 0;
        return run.map((l) => buf.subarray(off, (off += l.length)));
      }));
      i = j;
    }
    return (await Promise.all(out)).flat();
  }

  fileOf(location: Buffer): { path: string; offset: number } {
    const l = decodeLocation(location);
    return { path: this.packPath(l.pack), offset: l.offset };
  }

  private async read(l: Location, into?: Buffer): Promise<Buffer> {
    const fh = await this.reader(l.pack);
    const buf = into ?? Buffer.allocUnsafe(l.length);
    let got = 0;
    while (got < l.length) {
      const { bytesRead } = await fh.read(buf, got, l.length - got, l.offset + got);
      if (bytesRead === 0) throw new CorruptionError(`pack ${l.pack} is truncated at ${l.offset + got}`, { pack: l.pack });
      got += bytesRead;
    }
    return buf;
  }

  private reader(pack: number): Promise<FileHandle> {
    let p = this.readers.get(pack);
    if (!p) {
      p = open(this.packPath(pack), 'r');
      p.catch(() => this.readers.delete(pack));
      this.readers.set(pack, p);
    }
    return p;
  }

  private packPath(n: number): string {
    return join(this.dir, `${String(n).padStart(6, '0')}.pack`);
  }

  async put(chunks: { digest: Digest; data: Buffer }[], extra: (locations: Buffer[]) => KvOp[]): Promise<void> {
    const total = chunks.reduce((a, c) => a + c.data.length, 0);
    const w = total > 0 ? await this.reserve(total) : null;
    const locations: Buffer[] = [];
    let offset = w?.offset ?? 0;
    for (const c of chunks) {
      locations.push(encodeLocation({ pack: w?.pack ?? 0, offset, length: c.data.length }));
      offset += c.data.length;
    }
    // Other writers of the same chunks reuse these locations once the bytes are written.
    let written!: () => void;
    let failed!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => { written = res; failed = rej; });
    done.catch(() => undefined);
    chunks.forEach((c, i) => {
      const k = c.digest.toString('latin1');
      if (!this.pending.has(k)) this.pending.set(k, done.then(() => locations[i]!));
    });
    try {
      if (w) {
        let done = 0;
        while (done < total) {
          // writev may write less than asked: continue from where it stopped.
          let skip = done;
          const rest: Buffer[] = [];
          for (const c of chunks) {
            if (skip >= c.data.length) { skip -= c.data.length; continue; }
            rest.push(skip ? c.data.subarray(skip) : c.data);
            skip = 0;
          }
          const { bytesWritten } = await w.fh.writev(rest.slice(0, 1024), w.offset + done);
          if (bytesWritten === 0) throw new Error(`cannot write to pack ${w.pack}`);
          done += bytesWritten;
        }
      }
      written();
      const ops: KvOp[] = chunks.map((c, i) => ({ type: 'put', key: key(KEY.chunk, c.digest), value: locations[i]! }));
      await this.kv.batch([...ops, ...extra(locations)]);
    } catch (err) {
      failed(err);
      throw err;
    } finally {
      for (const c of chunks) this.pending.delete(c.digest.toString('latin1'));
    }
  }

  /** Reserves `n` bytes at the end of the current pack (synchronously, so writers never overlap). */
  private reserving: Promise<unknown> = Promise.resolve();
  private reserve(n: number): Promise<{ fh: FileHandle; pack: number; offset: number }> {
    const r = this.reserving.then(async () => {
      if (!this.writer || this.writer.size + n > PACK_LIMIT) await this.rotate();
      const w = this.writer!;
      const offset = w.size;
      w.size += n;
      return { fh: w.fh, pack: w.pack, offset };
    });
    this.reserving = r.catch(() => undefined);
    return r;
  }

  private async rotate(): Promise<void> {
    const names = await readdir(this.dir);
    const nums = names.map((n) => /^(\d{6})\.pack$/.exec(n)?.[1]).filter((x): x is string => !!x).map(Number);
    const next = nums.length ? Math.max(...nums) + 1 : 0;
    // A fresh pack per process: packs are never appended to by two processes or after a crash.
    if (this.writer) await this.writer.fh.close();
    const fh = await open(this.packPath(next), 'wx', 0o600);
    this.writer = { pack: next, fh, size: 0 };
  }

  async diskUsage(): Promise<number> {
    let total = 0;
    for (const n of await readdir(this.dir)) total += (await stat(join(this.dir, n))).size;
    return total;
  }

  async close(): Promise<void> {
    await this.writer?.fh.close();
    this.writer = null;
    for (const p of this.readers.values()) await (await p.catch(() => null))?.close();
    this.readers.clear();
  }
}
