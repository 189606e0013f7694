// NAR → filesystem, like `nix-store --restore DIR`: DIR must not exist; files are created with
// O_EXCL, executables get +x for everyone (as Nix does), symlinks are created as they are.
import { mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { parseNar, type NarParseResult, type NarSink } from './nar-parse.js';

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
    await mkdir(p, 0o777);
    this.dirs.push(p);
  }

  directoryEnd(): void {
    this.dirs.pop();
  }

  async fileStart(name: Buffer | null, executable: boolean): Promise<void> {
    this.filePath = this.pathOf(name);
    this.fh = await open(this.filePath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o666);
    this.executable = executable;
  }

  async fileData(data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.fh!.write(data, off, data.length - off);
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
    await symlink(target, this.pathOf(name));
  }

  /** Closes a file left open by a failed parse. */
  async abort(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = null;
  }
}

/**
 * Restores a NAR stream at `dir`, which must not exist (EEXIST otherwise). A malformed archive
 * fails with an InvalidInputError (what was written up to that point stays, as with Nix).
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

