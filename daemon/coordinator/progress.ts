// Build progress: on a terminal one status line redrawn in place (builds running, done, left,
// and the latest log line), like Nix's progress bar; otherwise plain lines as nix-build prints.
import type { BuildEvent } from './coordinator.js';

export class Progress {
  private done = 0;
  private failed = 0;
  private readonly running = new Set<string>();
  private lastLine = '';
  private drawn = false;

  private total = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  get isTty(): boolean { return !!this.out.isTTY; }

  event = (e: BuildEvent): void => {
    switch (e.type) {
      case 'queued':
        this.total++;
        this.redraw();
        break;
      case 'started':
        this.running.add(e.drvPath);
        this.line(`building '${e.drvPath}'...`);
        break;
      case 'log':
        this.lastLine = e.line;
        if (this.isTty) this.redraw();
        else this.out.write(`${e.line}\n`);
        break;
      case 'built':
        this.running.delete(e.drvPath);
        this.done++;
        this.redraw();
        break;
      case 'failed':
        this.running.delete(e.drvPath);
        this.failed++;
        this.line(`error: build of '${e.drvPath}' failed`);
        break;
      case 'substituting':
        break;
    }
  };

  /** A permanent line (above the status line on a terminal). */
  line(s: string): void {
    this.clear();
    this.out.write(`${s}\n`);
    this.redraw();
  }

  private clear(): void {
    if (this.isTty && this.drawn) { this.out.write('\r\x1b[K'); this.drawn = false; }
  }

  private redraw(): void {
    if (!this.isTty) return;
    this.clear();
    const left = Math.max(0, this.total - this.done - this.failed - this.running.size);
    if (this.total === 0) return;
    const name = [...this.running][0]?.replace(/^\/nix\/store\/[0-9a-z]{32}-/, '').replace(/\.drv$/, '');
    const status = `[${this.done}/${this.running.size}/${left} built${this.failed ? `, ${this.failed} failed` : ''}]${name ? ` building ${name}` : ''}${this.lastLine ? `: ${this.lastLine}` : ''}`;
    const width = this.out.columns || 80;
    this.out.write(status.length > width - 1 ? status.slice(0, width - 2) + '…' : status);
    this.drawn = true;
  }

  finish(): void {
    this.clear();
  }
}
