// The one place where error codes become exit codes and stderr lines.
import { isTsixError } from '../../store/errors.js';

const EXIT_CODES: Record<string, number> = {
  E_USAGE: 2,
  E_NOT_FOUND: 1,
  E_INVALID_INPUT: 1,
  E_HASH_MISMATCH: 102,
  E_BUILD_FAILED: 100,
  E_CORRUPT: 1,
  E_LOCKED: 1,
  E_CONFIG: 1,
  E_EVAL: 1,
  E_PARSE: 1,
};

export function exitCodeFor(err: unknown): number {
  return isTsixError(err) ? (EXIT_CODES[err.code] ?? 1) : 1;
}

/** One clear line (or Nix-style block) for stderr, never a stack trace unless verbose. */
export function errorMessage(err: unknown, verbose: boolean): string {
  if (isTsixError(err)) return `error: ${err.message}`;
  if (verbose && err instanceof Error) return `error: ${err.stack ?? err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}
