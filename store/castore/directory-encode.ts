// Writing the canonical directory encoding (see directory-codec.ts): msgpack of fixed-order
// tuples, the bytes msgpackr writes for them. The common case (sizes below 2^32, fewer than 2^16
// entries per list) is written here: msgpackr took ~3.5 us an entry cold, a third of a 20k-file
// import's directory work. Anything else goes to msgpackr, loaded only then.
import { createRequire } from 'node:module';
import type { Directory } from './nodes.js';

type DirTuple = [name: string, digest: Buffer, size: number];
type FileTuple = [name: string, digest: Buffer, size: number, executable: boolean];
type LinkTuple = [name: string, target: string];

export function encodeDirectory(d: Directory): Buffer {
  return encodeCommon(d) ?? encodeWithMsgpackr(d);
}

let packr: { pack(v: unknown): Buffer } | undefined;

function encodeWithMsgpackr(d: Directory): Buffer {
  packr ??= new (loadPackr())({ useRecords: false, mapsAsObjects: false, variableMapSize: true, moreTypes: false, bundleStrings: false });
  const tuple: [DirTuple[], FileTuple[], LinkTuple[]] = [
    d.directories.map((e) => [e.name, e.digest, e.size]),
    d.files.map((e) => [e.name, e.digest, e.size, e.executable]),
    d.symlinks.map((e) => [e.name, e.target]),
  ];
  return packr.pack(tuple);
}

// Loaded synchronously (encodeDirectory is synchronous), through msgpackr's CommonJS build.
function loadPackr(): new (opts: object) => { pack(v: unknown): Buffer } {
  return (createRequire(import.meta.url)('msgpackr') as { Packr: new (opts: object) => { pack(v: unknown): Buffer } }).Packr;
}

/** The encoding written here, or null when `d` is outside the common case. */
function encodeCommon(d: Directory): Buffer | null {
  const lists = [d.directories, d.files, d.symlinks];
  if (lists.some((l) => l.length >= 0x10000)) return null;
  if (d.directories.some((e) => !isU32(e.size)) || d.files.some((e) => !isU32(e.size))) return null;
  const w = new Writer(64 + 100 * (d.directories.length + d.files.length) + d.symlinks.reduce((a, e) => a + 16 + 3 * (e.name.length + e.target.length), 0));
  w.byte(0x93);
  w.arrayHead(d.directories.length);
  for (const e of d.directories) { w.byte(0x93); w.str(e.name); w.bin(e.digest); w.uint(e.size); }
  w.arrayHead(d.files.length);
  for (const e of d.files) { w.byte(0x94); w.str(e.name); w.bin(e.digest); w.uint(e.size); w.byte(e.executable ? 0xc3 : 0xc2); }
  w.arrayHead(d.symlinks.length);
  for (const e of d.symlinks) { w.byte(0x92); w.str(e.name); w.str(e.target); }
  return w.done();
}

function isU32(n: number): boolean {
  return n >>> 0 === n;
}

/** msgpack as msgpackr writes it with records off: smallest forms, positive fixints up to 0x7f. */
class Writer {
  private buf: Buffer;
  private pos = 0;
  constructor(size: number) { this.buf = Buffer.allocUnsafe(size); }

  byte(b: number): void { this.room(1); this.buf[this.pos++] = b; }

  arrayHead(n: number): void {
    if (n < 0x10) { this.byte(0x90 | n); return; }
    this.room(3);
    this.buf[this.pos] = 0xdc;
    this.buf.writeUInt16BE(n, this.pos + 1);
    this.pos += 3;
  }

  uint(n: number): void {
    this.room(5);
    const b = this.buf;
    if (n < 0x80) b[this.pos++] = n;
    else if (n < 0x100) { b[this.pos] = 0xcc; b[this.pos + 1] = n; this.pos += 2; }
    else if (n < 0x10000) { b[this.pos] = 0xcd; b.writeUInt16BE(n, this.pos + 1); this.pos += 3; }
    else { b[this.pos] = 0xce; b.writeUInt32BE(n, this.pos + 1); this.pos += 5; }
  }

  str(s: string): void {
    if (s.length < 0x20 && this.shortAscii(s)) return;
    const len = Buffer.byteLength(s, 'utf8');
    this.room(5 + len);
    const b = this.buf;
    if (len < 0x20) b[this.pos++] = 0xa0 | len;
    else if (len < 0x100) { b[this.pos] = 0xd9; b[this.pos + 1] = len; this.pos += 2; }
    else if (len < 0x10000) { b[this.pos] = 0xda; b.writeUInt16BE(len, this.pos + 1); this.pos += 3; }
    else { b[this.pos] = 0xdb; b.writeUInt32BE(len, this.pos + 1); this.pos += 5; }
    this.pos += b.write(s, this.pos, 'utf8');
  }

  /** Writes `s` (under 32 chars) as a fixstr if it is all ASCII (most names: no native calls); else false, nothing written. */
  private shortAscii(s: string): boolean {
    this.room(1 + s.length);
    const b = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      b[this.pos + 1 + i] = c;
    }
    b[this.pos] = 0xa0 | s.length;
    this.pos += 1 + s.length;
    return true;
  }

  bin(d: Uint8Array): void {
    const len = d.length;
    this.room(5 + len);
    const b = this.buf;
    if (len < 0x100) { b[this.pos] = 0xc4; b[this.pos + 1] = len; this.pos += 2; }
    else if (len < 0x10000) { b[this.pos] = 0xc5; b.writeUInt16BE(len, this.pos + 1); this.pos += 3; }
    else { b[this.pos] = 0xc6; b.writeUInt32BE(len, this.pos + 1); this.pos += 5; }
    b.set(d, this.pos);
    this.pos += len;
  }

  done(): Buffer { return this.buf.subarray(0, this.pos); }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
}
