// Evaluation and parse errors, formatted as Nix 2.8 prints them (message, then the position with
// the surrounding source lines). main.ts prints `error: ` + message.
import { TsixError } from '../store/errors.js';

/** A source position; `origin` is a file path or «string» / «stdin». */
export interface Pos {
  readonly origin: string;
  readonly line: number;
  readonly col: number;
}

/** Source texts by origin, so an error can quote the lines around its position. */
const sources = new Map<string, string>();
export function registerSource(origin: string, text: string): void {
  sources.set(origin, text);
}

export function sourceText(origin: string): string | undefined {
  return sources.get(origin);
}

export function showPos(pos: Pos): string {
  return `${pos.origin}:${pos.line}:${pos.col}`;
}

/** Nix's "(string)" spelling used inside some messages (e.g. lambda descriptions). */
export function showPosParen(pos: Pos): string {
  const o = pos.origin === '«string»' ? '(string)' : pos.origin === '«stdin»' ? '(stdin)' : pos.origin;
  return `${o}:${pos.line}:${pos.col}`;
}

/** The "at FILE:L:C:" block with code lines, as Nix prints after an error's message. */
export function positionBlock(pos: Pos): string {
  let out = `\n\n       at ${showPos(pos)}:`;
  // Nix 2.8 names derivation.nix '//builtin/derivation.nix', a file it cannot open for code lines.
  const text = pos.origin === '//builtin/derivation.nix' ? undefined : sources.get(pos.origin);
  if (text === undefined) return out;
  // Files are read line by line and an unterminated last line is never shown (Nix's readLine);
  // strings are read with getline, which also yields the empty piece after a final newline.
  const lines = text.split('\n');
  if (!pos.origin.startsWith('«')) lines.pop();
  const idx = pos.line - 1;
  if (idx < 0 || idx >= lines.length) return out;
  out += '\n';
  if (idx > 0) out += `\n${String(idx).padStart(13)}| ${lines[idx - 1]}`;
  out += `\n${String(pos.line).padStart(13)}| ${lines[idx]}`;
  out += `\n${' '.repeat(13)}| ${' '.repeat(Math.max(0, pos.col - 1))}^`;
  if (idx + 1 < lines.length) out += `\n${String(pos.line + 1).padStart(13)}| ${lines[idx + 1]}`;
  return out;
}

/**
 * What Nix's logger makes of an error text: every line chomped, CRs dropped, tabs expanded to the
 * next multiple of 8 counted from the start of the whole message (filterANSIEscapes never resets
 * its column at newlines). `text` follows the 7-character "error: " prefix.
 */
export function nixLoggerText(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/[ \t\r\n]+$/, ''));
  let w = 7, out = '';
  for (const ch of lines.join('\n')) {
    if (ch === '\t') { out += ' '; w++; while (w % 8) { out += ' '; w++; } }
    else if (ch === '\r' || ch === '\x07') continue;
    else { out += ch; w++; }
  }
  return out;
}

/** --show-trace: Nix then prints the trace frames instead of the hint. Read directly by the evaluator's hot paths. */
export let showTrace = false;
export function setShowTrace(on: boolean): void { showTrace = on; }
/** Whether --show-trace is on (Nix adds the frames of function calls only then). */
export function isShowTrace(): boolean { return showTrace; }

/** A frame of Nix's error trace ("… while evaluating …"), innermost first. */
export interface TraceFrame { readonly pos: Pos | null; readonly hint: string }

export class NixEvalError extends TsixError {
  /** The message without position block. */
  readonly bare: string;
  pos: Pos | null;
  hint: string;
  /** Nix would have trace frames (shown with --show-trace); without it, Nix prints a hint line. */
  traced = false;
  /** The frames, in the order they were added (innermost first, as Nix prints them). */
  frames: TraceFrame[] | null = null;
  /**
   * With --show-trace and frames, the message is made when read (a deep trace adds a frame per
   * level: formatting each time would be quadratic); `text` is then its cache.
   */
  private text: string | null = null;
  private lazy = false;
  constructor(message: string, pos: Pos | null = null, code = 'E_EVAL', hint = '') {
    super(code, message);
    this.bare = message;
    this.pos = pos;
    this.hint = hint;
    this.refresh();
  }
  /** Attach a position if none is known yet. */
  at(pos: Pos | null): this {
    if (this.pos === null && pos !== null) { this.pos = pos; this.refresh(); }
    return this;
  }
  /** Nix's addTrace: a frame (printed with --show-trace), or without `hint` only the fact of one. */
  addTrace(pos: Pos | null = null, hint?: string): this {
    if (hint !== undefined) (this.frames ??= []).push({ pos, hint });
    this.traced = true;
    this.refresh();
    return this;
  }
  /** Makes the message anew (position, hint or frames changed). */
  refresh(): void {
    if (showTrace && this.frames !== null) {
      if (!this.lazy) {
        this.lazy = true;
        Object.defineProperty(this, 'message', {
          get: () => (this.text ??= this.render()),
          set: (v: string) => { this.text = v; },
          configurable: true, enumerable: false,
        });
      }
      this.text = null;
    } else {
      this.message = this.render();
    }
  }
  private render(): string {
    let text = this.bare + (this.pos ? positionBlock(this.pos) : '') + (this.hint ? `\n       ${this.hint}` : '');
    if (showTrace && this.frames !== null) {
      // Nix's showErrorInfo: a blank line before each frame, except after an "at" line without
      // code lines (which ends without a newline).
      let bare = this.pos !== null && !this.hint && positionBlock(this.pos).indexOf('\n', 2) < 0;
      for (const f of this.frames) {
        text += `${bare ? '\n' : '\n\n'}       … ${f.hint}`;
        bare = false;
        if (f.pos !== null) {
          const b = positionBlock(f.pos);
          text += b;
          bare = b.indexOf('\n', 2) < 0;
        }
      }
    }
    if (this.traced && !showTrace) text += `\n(use '--show-trace' to show detailed location information)`;
    return nixLoggerText(text);
  }
}

export class NixParseError extends NixEvalError {
  constructor(message: string, pos: Pos) {
    super(message, pos, 'E_PARSE');
  }
}

/** `throw` (and assertion failures, below): the errors builtins.tryEval catches. */
export class NixThrownError extends NixEvalError {}
export class NixAssertionError extends NixThrownError {}
export class NixAbortError extends NixEvalError {}
