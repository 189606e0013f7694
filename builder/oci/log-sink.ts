// A build's output: raw bytes to the log file, complete lines to a callback, and the last lines
// kept for error messages. Overlong lines are cut so a builder printing no newline cannot make
// the daemon buffer without bound.
import { createWriteStream, type WriteStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { LOG_TAIL_LINES } from '../build-service.js';

const MAX_LINE = 64 * 1024;

export class LogSink {
  private readonly file: WriteStream;
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private readonly tail: string[] = [];
  private readonly opened: Promise<void>;

  constructor(readonly path: string, private readonly onLine?: (line: string) => void) {
    this.file = createWriteStream(path, { flags: 'w', mode: 0o644 });
    this.opened = new Promise((resolve, reject) => {
      this.file.once('open', () => resolve());
      this.file.once('error', reject);
    });
  }

  /** Resolves once the log file is open (rejects if it cannot be created). */
  ready(): Promise<void> {
    return this.opened;
  }

  write(chunk: Buffer): void {
    this.file.write(chunk);
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

  /** Flushes the last unterminated line and closes the file. */
  async close(): Promise<void> {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.line(rest);
    await new Promise<void>((resolve, reject) => this.file.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }

  lastLines(): string[] {
    return [...this.tail];
  }
}
