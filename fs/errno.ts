// The one place where errors become errno values for FUSE replies (negative, as libfuse wants).
import { constants } from 'node:os';
import { isTsixError } from '../store/errors.js';
import { logger } from '../store/log.js';

const E = constants.errno;

/** Stable tsix error codes → errno. Anything unknown is EIO (and logged). */
const BY_CODE: Record<string, number> = {
  E_NOT_FOUND: E.ENOENT,
  E_READ_ONLY: E.EROFS,
  E_CORRUPT: E.EIO,
  E_HASH_MISMATCH: E.EIO,
  E_INVALID_INPUT: E.EINVAL,
  E_LOCKED: E.EBUSY,
  E_NOT_DIRECTORY: E.ENOTDIR,
  E_IS_DIRECTORY: E.EISDIR,
  E_ACCESS: E.EACCES,
  E_NO_XATTR: E.ENODATA,
  E_BUILD_FAILED: E.EIO,
};

export const ERRNO = {
  ENOENT: -E.ENOENT,
  EROFS: -E.EROFS,
  EIO: -E.EIO,
  EACCES: -E.EACCES,
  ENOTDIR: -E.ENOTDIR,
  EISDIR: -E.EISDIR,
  EINVAL: -E.EINVAL,
  ENODATA: -E.ENODATA,
  ERANGE: -E.ERANGE,
  ENOSYS: -E.ENOSYS,
} as const;

const log = logger('fs');

/** Negative errno for an error thrown while answering a FUSE request. */
export function errnoOf(err: unknown, op: string, path: string): number {
  if (isTsixError(err)) {
    const n = BY_CODE[err.code];
    if (n !== undefined) {
      if (n === E.EIO) log.error({ op, path, code: err.code, err: err.message }, 'store error while serving a FUSE request');
      return -n;
    }
  }
  const sys = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof sys === 'string' && sys in E) return -E[sys as keyof typeof E];
  log.error({ op, path, err: err instanceof Error ? err.stack ?? err.message : String(err) }, 'unexpected error while serving a FUSE request');
  return -E.EIO;
}
