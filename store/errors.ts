// Errors shared by every component. Each has a stable `code` and structured `data`
// (as isomorphic-git does); fs/errno.ts maps codes to errno and daemon/cli/exit-codes.ts
// to exit codes, each in one place.

export type ErrorData = Record<string, unknown>;

export class TsixError extends Error {
  readonly code: string;
  readonly data: ErrorData;
  constructor(code: string, message: string, data: ErrorData = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }
}

/** Input that violates a format: a malformed NAR, a bad store path, a bad hash string. */
export class InvalidInputError extends TsixError {
  constructor(what: string, message: string, data: ErrorData = {}) {
    super('E_INVALID_INPUT', `${what}: ${message}`, { what, ...data });
  }
}

/** A stored object failed validation or its digest does not match (corruption). */
export class CorruptionError extends TsixError {
  constructor(message: string, data: ErrorData = {}) {
    super('E_CORRUPT', message, data);
  }
}

/** Content whose hash is not the one that was declared (downloads, fixed outputs, NAR imports). */
export class HashMismatchError extends TsixError {
  constructor(what: string, specified: string, got: string, data: ErrorData = {}) {
    super('E_HASH_MISMATCH', `hash mismatch in ${what}:\n  specified: ${specified}\n  got:       ${got}`, { what, specified, got, ...data });
  }
}

/** Something that was asked for by name is not there (used where absence is an error for the caller). */
export class NotFoundError extends TsixError {
  constructor(what: string, data: ErrorData = {}) {
    super('E_NOT_FOUND', `${what} does not exist`, { what, ...data });
  }
}

/** The store is read-only here (e.g. a write through the FUSE mount). */
export class ReadOnlyError extends TsixError {
  constructor(what: string) {
    super('E_READ_ONLY', `${what}: read-only file system`, { what });
  }
}

/** A store URL or option that cannot be used. */
export class ConfigError extends TsixError {
  constructor(message: string, data: ErrorData = {}) {
    super('E_CONFIG', message, data);
  }
}

/** The store backend is locked by another process (e.g. a running daemon holds LevelDB). */
export class StoreLockedError extends TsixError {
  constructor(location: string) {
    super('E_LOCKED', `the store at ${location} is in use by another process (is a tsix daemon running without its socket?)`, { location });
  }
}

export function isTsixError(e: unknown): e is TsixError {
  return e instanceof TsixError;
}
