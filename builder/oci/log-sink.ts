// A build's output: raw bytes to the log file, complete lines to a callback, and the last lines
// kept for error messages. Overlong lines are cut so a builder printing no newline cannot make
// the daemon buffer without bound. The file is opened, written and closed synchronously: a
// write to the page cache takes tens of microseconds, while each asynchronous step (open, the
// writes, the flush and close at the end) waited its turn in libuv's thread pool, 0.2-0.5 ms each
// on a loaded machine, on the path from one build of a chain to the next.
import { closeSync, openSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { LOG_TAIL_LINES } from '../build-service.js';

const MAX_LINE = 64 * 1024;

export class LogSink {
  private fd: number | null = null;
  private readonly openError: Error | null = null;
  private writeError: Error | null = null;
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private readonly tail: string[] = [];

  constructor(readonly path: string, private readonly onLine?: (line: string) => void) {
    try {
      this.fd = openSync(path, 'w', 0o644);
    } catch (e) {
      this.openError = e as Error;
    }
  }

  /** Resolves once the log file is open (rejects if it cannot be created). */
  ready(): Promise<void> {
    return this.openError ? Promise.reject(this.openError) : Promise.resolve();
  }

  write(chunk: Buffer): void {
    if (this.fd !== null && this.writeError === null) {
      try {
        for (let off = 0; off < chunk.length;) off += writeSync(this.fd, chunk, off);
      } catch (e) {
        // Reported by close(); the lines still reach the callback and the tail.
        this.writeError = e as Error;
      }
    }
    const all = this.partial + this.decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = all.indexOf('\n', start)) >= 0) {
      this.line(all.slice(start, nl));
      start = nl + 1;
    }
    let text = all.slice(start);
    while (text.length > MAX_LINE) {
      this.line(text.slice(0, MAX_LINE));
      text = text.slice(MAX_LINE);
    }
    this.partial = text;
  }

  private line(l: string): void {
    this.tail.push(l);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    if (this.onLine) {
      try {
        this.onLine(l);
      } catch {
        // A failing log consumer must not break the build.
      }
    }
  }

  /** Flushes the last unterminated line and closes the file; rejects if a write failed. */
  async close(): Promise<void> {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.line(rest);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    if (this.writeError) throw this.writeError;
  }

  lastLines(): string[] {
    return [...this.tail];
  }
}
