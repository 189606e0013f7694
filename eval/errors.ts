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
  const text = sources.get(pos.origin);
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

/** --show-trace: Nix then prints the trace frames instead of the hint (tsix prints neither yet). */
let showTrace = false;
export function setShowTrace(on: boolean): void { showTrace = on; }

export class NixEvalError extends TsixError {
  /** The message without position block. */
  readonly bare: string;
  pos: Pos | null;
  hint: string;
  /** Nix would have trace frames (shown with --show-trace); without it, Nix prints a hint line. */
  traced = false;
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
  addTrace(): this {
    if (!this.traced) { this.traced = true; this.refresh(); }
    return this;
  }
  refresh(): void {
    this.message = nixLoggerText(this.bare + (this.pos ? positionBlock(this.pos) : '') + (this.hint ? `\n       ${this.hint}` : '') +
      (this.traced && !showTrace ? `\n(use '--show-trace' to show detailed location information)` : ''));
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
