// NAR → filesystem, like `nix-store --restore DIR`: DIR must not exist; files are created with
// O_EXCL, executables get +x for everyone (as Nix does), symlinks are created as they are.
import { mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { TsixError } from '../errors.js';
import { parseNar, type NarParseResult, type NarSink } from './nar-parse.js';

const STRERROR: Record<string, string> = {
  EEXIST: 'File exists', ENOENT: 'No such file or directory', EACCES: 'Permission denied',
  ENOTDIR: 'Not a directory', ENOSPC: 'No space left on device', EROFS: 'Read-only file system',
};

/** A filesystem operation of a restore failed (`data.errno` holds the errno name, e.g. EEXIST). */
export class RestoreError extends TsixError {
  constructor(op: string, path: Buffer, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException).code ?? 'EIO';
    super('E_RESTORE', `${op} '${path.toString()}': ${STRERROR[errno] ?? (cause as Error).message}`, { path: path.toString(), errno }, { cause });
  }
}

async function fsOp<T>(op: string, path: Buffer, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new RestoreError(op, path, e);
  }
}

class FsSink implements NarSink {
  private readonly dirs: Buffer[] = [];
  private fh: FileHandle | null = null;
  private executable = false;
  private filePath: Buffer | null = null;

  constructor(private readonly root: Buffer) {}

  private pathOf(name: Buffer | null): Buffer {
    if (name === null) return this.root;
    return Buffer.concat([this.dirs[this.dirs.length - 1]!, Buffer.from('/'), name]);
  }

  async directoryStart(name: Buffer | null): Promise<void> {
    const p = this.pathOf(name);
    await fsOp('creating directory', p, () => mkdir(p, 0o777));
    this.dirs.push(p);
  }

  directoryEnd(): void {
    this.dirs.pop();
  }

  async fileStart(name: Buffer | null, executable: boolean): Promise<void> {
    this.filePath = this.pathOf(name);
    const p = this.filePath;
    this.fh = await fsOp('creating file', p, () => open(p, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o666));
    this.executable = executable;
  }

  async fileData(data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fsOp('writing file', this.filePath!, () => this.fh!.write(data, off, data.length - off));
      off += bytesWritten;
    }
  }

  async fileEnd(): Promise<void> {
    const fh = this.fh!;
    this.fh = null;
    try {
      if (this.executable) {
        const st = await fh.stat();
        await fh.chmod(st.mode | 0o111);
      }
    } finally {
      await fh.close();
    }
  }

  async symlink(name: Buffer | null, target: Buffer): Promise<void> {
    const p = this.pathOf(name);
    await fsOp('creating symlink', p, () => symlink(target, p));
  }

  /** Closes a file left open by a failed parse. */
  async abort(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = null;
  }
}

/**
 * Restores a NAR stream at `dir`, which must not exist (RestoreError with errno EEXIST
 * otherwise). A malformed archive fails with an InvalidInputError; what was written up to that
 * point stays, as with Nix.
 */
export async function restoreNarToFs(source: AsyncIterable<Uint8Array>, dir: string): Promise<NarParseResult> {
  const sink = new FsSink(Buffer.from(dir));
  try {
    return await parseNar(source, sink);
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

