// What every sandbox backend does around one build: refuse work once closed, check the request,
// tie the caller's abort signal to the build's own, and on close abort and await what still runs.
import { rename } from 'node:fs/promises';
import { BuildAbortedError, BuildSetupError, type BuildOptions, type BuildRequest, type BuildResult } from './build-service.js';
import { InvalidInputError } from '../store/errors.js';
import { validateBuildRequest } from './validate-request.js';

interface Running {
  abort: AbortController;
  done: Promise<unknown>;
}

export class RunningBuilds {
  private readonly running = new Set<Running>();
  private readonly background = new Set<Promise<void>>();
  private isClosed = false;

  /** `what` names the backend in errors; `reserved` are the directories its sandbox provides itself. */
  constructor(private readonly what: string, private readonly reserved: readonly string[]) {}

  get closed(): boolean { return this.isClosed; }

  /** Validates `req` and runs it with a signal that fires on the caller's abort or on close(). */
  async run(req: BuildRequest, opts: BuildOptions, body: (signal: AbortSignal) => Promise<BuildResult>): Promise<BuildResult> {
    if (this.isClosed) throw new BuildSetupError(`the ${this.what} build service is closed`);
    validateBuildRequest(req);
    this.checkReserved(req);
    if (opts.signal?.aborted) throw new BuildAbortedError();
    const abort = new AbortController();
    const forward = (): void => abort.abort();
    opts.signal?.addEventListener('abort', forward, { once: true });
    const done = body(abort.signal);
    const entry = { abort, done };
    this.running.add(entry);
    try {
      return await done;
    } finally {
      this.running.delete(entry);
      opts.signal?.removeEventListener('abort', forward);
    }
  }

  /**
   * Releases a finished build's directory: moves it aside at once (`<dir>.removing`, so the name
   * keeps the owner's pid for stale clean-up) and runs `remove` on it in the background, so a
   * dependant build need not wait for it. A directory that cannot be moved is removed before answering.
   */
  async releaseDir(dir: string, remove: (path: string) => Promise<void>): Promise<void> {
    const doomed = `${dir}.removing`;
    const moved = await rename(dir, doomed).then(() => true, () => false);
    const work = remove(moved ? doomed : dir);
    if (!moved) return work;
    this.later(work);
  }

  /** Tracks clean-up work left to run in the background, for settled() and close(); failures are the work's to log. */
  later(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  /** Resolves when the deferred clean-up work has finished (including work deferred meanwhile). */
  async settled(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  /** Refuses new builds, aborts the running ones and waits until each has ended and been cleaned up. */
  async close(): Promise<void> {
    this.isClosed = true;
    for (const e of this.running) e.abort.abort();
    await Promise.allSettled([...this.running].map((e) => e.done));
    await this.settled();
  }

  /** Refuses request paths that would replace or hide a directory the sandbox provides itself. */
  private checkReserved(req: BuildRequest): void {
    const paths: [string, string][] = [['storeDir', req.storeDir], ['workingDir', req.workingDir], ...req.scratchPaths.map((p): [string, string] => ['scratchPaths', p])];
    for (const [field, p] of paths) {
      const r = this.reserved.find((d) => p === d || p.startsWith(d + '/'));
      if (r) throw new InvalidInputError('build request', `${field} ${p} lies in ${r}, which the sandbox provides itself`, { field, path: p });
    }
  }
}

/** The pid that created a build id, bundle or pod name (tsix-<pid>-…), or null. */
export function ownerPid(name: string): number | null {
  const m = /^tsix-(\d+)-/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Whether what `pid` created is left over: its process is gone (or `all`), and it is not this one. */
export function ownerGone(pid: number | null, all: boolean): boolean {
  return pid !== null && (all || (pid !== process.pid && !alive(pid)));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
