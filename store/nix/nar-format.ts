// NAR (nix-archive-1) framing: every string is a little-endian u64 length, the bytes, and
// zero padding to a multiple of 8. Shared by the NAR writer, reader and hashing ingest.

export const NAR_MAGIC = 'nix-archive-1';

const ZEROS = Buffer.alloc(8);

/** Padding needed after `len` bytes. */
export function narPad(len: number): number {
  return (8 - (len % 8)) % 8;
}

/** The framing of one string token. */
export function narString(s: string | Uint8Array): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  const out = Buffer.alloc(8 + bytes.length + narPad(bytes.length));
  out.writeBigUInt64LE(BigInt(bytes.length), 0);
  bytes.copy(out, 8);
  return out;
}

/** Length prefix of a file's contents (the contents and `narPadding` follow). */
export function narLength(len: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt(len), 0);
  return out;
}

export function narPadding(len: number): Buffer {
  return ZEROS.subarray(0, narPad(len));
}

/** Precomputed token sequences. */
export const NAR_TOKENS = {
  magic: narString(NAR_MAGIC),
  open: narString('('),
  close: narString(')'),
  typeRegular: Buffer.concat([narString('type'), narString('regular')]),
  executable: Buffer.concat([narString('executable'), narString('')]),
  contents: narString('contents'),
  typeSymlink: Buffer.concat([narString('type'), narString('symlink'), narString('target')]),
  typeDirectory: Buffer.concat([narString('type'), narString('directory')]),
  entryOpen: Buffer.concat([narString('entry'), narString('('), narString('name')]),
  node: narString('node'),
};
