// A reader for the msgpack the store's own records are written in (msgpackr encodes directories
// and PathInfos as tuples): nil, booleans, integers, floats, strings, binaries and arrays; maps
// and extensions are refused. Reading needs neither msgpackr's general decoder nor its loading
// (~12 ms of every start-up), and it is on the path of every directory a reader fetches.

let src: Buffer = Buffer.alloc(0);
let pos = 0;

/** The value `b` holds (binaries as views of `b`); throws when `b` is not one whole value of that subset. */
export function readMsgpack(b: Buffer): unknown {
  src = b;
  pos = 0;
  try {
    const v = value();
    if (pos !== b.length) throw new Error(`${b.length - pos} bytes after the value`);
    return v;
  } finally {
    src = Buffer.alloc(0);
  }
}

function need(n: number): void {
  if (pos + n > src.length) throw new Error('truncated');
}

function value(): unknown {
  need(1);
  const t = src[pos++]!;
  if (t <= 0x7f) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f);
  if (t >= 0x90 && t <= 0x9f) return array(t & 0x0f);
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return bin(uint(1));
    case 0xc5: return bin(uint(2));
    case 0xc6: return bin(uint(4));
    case 0xca: need(4); pos += 4; return src.readFloatBE(pos - 4);
    case 0xcb: need(8); pos += 8; return src.readDoubleBE(pos - 8);
    case 0xcc: return uint(1);
    case 0xcd: return uint(2);
    case 0xce: return uint(4);
    case 0xcf: return uint(8);
    case 0xd0: need(1); return src.readInt8(pos++);
    case 0xd1: need(2); pos += 2; return src.readInt16BE(pos - 2);
    case 0xd2: need(4); pos += 4; return src.readInt32BE(pos - 4);
    case 0xd3: return int64();
    case 0xd9: return str(uint(1));
    case 0xda: return str(uint(2));
    case 0xdb: return str(uint(4));
    case 0xdc: return array(uint(2));
    case 0xdd: return array(uint(4));
    default: throw new Error(`type 0x${t.toString(16)} is not used in store records`);
  }
}

function uint(n: 1 | 2 | 4 | 8): number {
  need(n);
  const at = pos;
  pos += n;
  if (n === 1) return src[at]!;
  if (n === 2) return src.readUInt16BE(at);
  if (n === 4) return src.readUInt32BE(at);
  const v = src.readUInt32BE(at) * 0x100000000 + src.readUInt32BE(at + 4);
  if (!Number.isSafeInteger(v)) throw new Error('integer beyond 2^53');
  return v;
}

function int64(): number {
  need(8);
  const v = src.readInt32BE(pos) * 0x100000000 + src.readUInt32BE(pos + 4);
  pos += 8;
  if (!Number.isSafeInteger(v)) throw new Error('integer beyond 2^53');
  return v;
}

const latin1 = (Buffer.prototype as unknown as { latin1Slice(this: Buffer, start: number, end: number): string }).latin1Slice;

function str(n: number): string {
  need(n);
  const start = pos;
  pos += n;
  // ASCII (almost every name) as is, short ones built here (cheaper than a native call); other
  // strings as UTF-8, invalid sequences replaced, as msgpackr does.
  if (n < 16) {
    let s = '';
    for (let i = start; i < pos; i++) {
      const c = src[i]!;
      if (c >= 0x80) return src.toString('utf8', start, pos);
      s += String.fromCharCode(c);
    }
    return s;
  }
  for (let i = start; i < pos; i++) if (src[i]! >= 0x80) return src.toString('utf8', start, pos);
  return latin1.call(src, start, pos);
}

function bin(n: number): Buffer {
  need(n);
  pos += n;
  return src.subarray(pos - n, pos);
}

function array(n: number): unknown[] {
  // Each element takes a byte at least: a count beyond the bytes left is malformed, not a huge allocation.
  need(n);
  const a = new Array<unknown>(n);
  for (let i = 0; i < n; i++) a[i] = value();
  return a;
}
