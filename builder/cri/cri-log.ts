// Reads a CRI container log file as it grows and turns it back into the builder's output.
// The runtime writes one record per line: `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`, where
// P marks a piece of a longer line (the newline comes with a later record) and F the end of a line.
import { open, type FileHandle } from 'node:fs/promises';

const CHUNK = 64 * 1024;
const NL = 0x0a;
const SPACE = 0x20;

/** The builder's bytes of one complete record line (without its trailing newline), or null if malformed. */
export function criRecordText(record: Buffer): Buffer | null {
  const a = record.indexOf(SPACE);
  const b = a < 0 ? -1 : record.indexOf(SPACE, a + 1);
  const c = b < 0 ? -1 : record.indexOf(SPACE, b + 1);
  // The tag is the third field; an empty message has no final space ("... stdout F").
  const tagEnd = c < 0 ? record.length : c;
  if (b < 0 || tagEnd !== b + 2) return null;
  const tag = record[b + 1];
  const text = c < 0 ? Buffer.alloc(0) : record.subarray(c + 1);
  if (tag === 0x46 /* F */) return Buffer.concat([text, Buffer.from([NL])]);
  if (tag === 0x50 /* P */) return text;
  return null;
}

/** Follows one log file; `drain` hands each new complete record's text to `sink`. */
export class CriLogReader {
  private fh: FileHandle | null = null;
  private pending = Buffer.alloc(0);
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  constructor(private readonly path: string, private readonly sink: (text: Buffer) => void) {}

  /** Reads what was appended since the last call. Quiet while the file does not exist yet. */
  async drain(): Promise<void> {
    if (!this.fh) {
      try {
        this.fh = await open(this.path, 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
    }
    for (;;) {
      const { bytesRead } = await this.fh.read(this.buf, 0, CHUNK, null);
      if (bytesRead === 0) return;
      this.consume(this.buf.subarray(0, bytesRead));
    }
  }

  private consume(chunk: Buffer): void {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    let nl: number;
    while ((nl = data.indexOf(NL, start)) >= 0) {
      const text = criRecordText(data.subarray(start, nl));
      if (text && text.length) this.sink(text);
      start = nl + 1;
    }
    this.pending = Buffer.from(data.subarray(start));
  }

  /** Reads the rest and closes the file. */
  async close(): Promise<void> {
    try {
      await this.drain();
    } finally {
      await this.fh?.close();
      this.fh = null;
    }
  }
}
