// Starts the OCI backend's `runc run` commands from a small helper process (spawn-helper.ts)
// instead of from tsix itself. A spawn forks the calling process and waits until the child has
// called exec: from tsix (heap, worker threads, the FUSE server) that held the main thread 2.5-20
// ms per build (median 4.5 ms over the 50 builds of bench:build), during which the FUSE requests
// of running builds waited too. The helper is a Node process of ~40 MB that forks in ~1-2 ms
// while the main thread goes on; it is started with the backend, so its start-up (~40 ms)
// overlaps the store mount's.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type HelperRequest = { id: number; argv: string[] };
export type HelperReply =
  | { id: number; data: Uint8Array }
  | { id: number; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; error: string };

export interface Ended { code: number | null; signal: NodeJS.Signals | null }

interface Run {
  onData(chunk: Buffer): void;
  resolve(e: Ended): void;
  reject(e: Error): void;
}

const HELPER = fileURLToPath(new URL('./spawn-helper.js', import.meta.url));

export class Spawner {
  private helper: ChildProcess | null = null;
  private readonly runs = new Map<number, Run>();
  private nextId = 1;

  /** Starts the helper now (it is otherwise started by the first run). */
  warm(): void {
    this.start();
  }

  /** Runs argv (stdin closed, stdout and stderr to `onData` as they arrive); resolves with how
   *  it ended, rejects when it could not be started or the helper was lost. */
  run(argv: string[], onData: (chunk: Buffer) => void): Promise<Ended> {
    const helper = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.runs.set(id, { onData, resolve, reject });
      this.hold();
      helper.send({ id, argv } satisfies HelperRequest);
    });
  }

  /** The helper's pid, while it runs. */
  get helperPid(): number | undefined {
    return this.helper?.pid;
  }

  /** Stops the helper (commands it started run on). */
  close(): void {
    const h = this.helper;
    this.helper = null;
    if (h?.connected) h.disconnect();
  }

  private start(): ChildProcess {
    if (this.helper) return this.helper;
    // No inherited flags (a profiler, a large heap): the helper only relays.
    // Nothing of tsix's standard streams: a helper outliving tsix must not hold a pipe a caller reads to its end.
    const h = fork(HELPER, [], { execArgv: [], serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    h.on('message', (m: HelperReply) => this.reply(m));
    const lost = (why: string): void => {
      if (this.helper === h) this.helper = null;
      for (const r of this.runs.values()) r.reject(new Error(`the runc helper process ${why}`));
      this.runs.clear();
    };
    h.on('error', (e) => lost(`failed: ${e.message}`));
    h.on('exit', (code, signal) => lost(`exited (${signal ?? code})`));
    this.helper = h;
    this.hold();
    return h;
  }

  private reply(m: HelperReply): void {
    const r = this.runs.get(m.id);
    if (!r) return;
    if ('data' in m) return r.onData(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    this.runs.delete(m.id);
    this.hold();
    if ('error' in m) r.reject(new Error(m.error));
    else r.resolve({ code: m.code, signal: m.signal });
  }

  /** The helper keeps tsix running only while it runs something for it. */
  private hold(): void {
    const h = this.helper;
    if (!h) return;
    if (this.runs.size) {
      h.ref();
      h.channel?.ref();
    } else {
      h.unref();
      h.channel?.unref();
    }
  }
}
