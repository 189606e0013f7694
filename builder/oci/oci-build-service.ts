// The OCI backend: one runc bundle per build under <stateDir>/builds/<id>, run in the foreground
// with `runc run`. Everything a build creates on the host lives in its bundle directory, and
// the container's mounts live only in its own mount namespace, so removing the runc container
// and the bundle leaves nothing behind. Container ids carry the owner's pid (tsix-<pid>-…) so a
// later start can remove what a killed process left (cleanupStale).
import { chmod, chown, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../../store/log.js';
import {
  BuildAbortedError, BuildSetupError,
  type BuildOptions, type BuildRequest, type BuildResult, type BuildService, type BuiltOutput,
} from '../build-service.js';
import { scanOutputs } from '../scan-outputs.js';
import { checkHostPaths, storeBasename } from '../validate-request.js';
import { BundlePool, type Bundle } from './bundle-pool.js';
import { LogSink } from './log-sink.js';
import { Spawner } from './spawner.js';
import { RootfsCache, rootfsShape } from './rootfs.js';
import { DEFAULT_RUNC_ROOT, checkRunc, forceDelete, hasState, killContainer, listContainers, type Runc } from './runc.js';
import { SANDBOX_GID, SANDBOX_UID, runtimeSpec, type SandboxLayout } from './runtime-spec.js';
import { ownerGone, ownerPid, RunningBuilds } from '../running-builds.js';

const log = logger('builder-oci');

/** Host uid/gid mapped to uid 0 in the sandbox; inside systemd's range for containers (524288–1879048191). */
export const DEFAULT_HOST_ID_BASE = 0x6f000000;
/** Prefix of every container id and bundle directory this backend creates. */
export const ID_PREFIX = 'tsix-';
/** How often a kill is retried while runc is still creating the container. */
const KILL_RETRY_MS = 25;
/** After this many kill attempts without runc exiting, the container is force-deleted. */
const FORCE_DELETE_EVERY = 40;
/** Host files bound into /etc when a build may use the network, as Nix does for fixed-output builds. */
const NETWORK_ETC = ['/etc/resolv.conf', '/etc/services', '/etc/hosts'];
const CGROUP_V1_MEMORY = '/sys/fs/cgroup/memory';
/** Sandbox directories the backend mounts itself; requests may not put their own paths there. */
const RESERVED = ['/proc', '/dev', '/etc', '/tmp', '/bin'];
/** The bundle's directories bound at the working directory and at each scratch path. */
const WORK_DIR = 'build';
const scratchDir = (i: number): string => `scratch-${i}`;

export interface OciBuilderOptions {
  /** Directory for bundles, rootfs trees and kept build directories (default: <tmpdir>/tsix-oci). */
  stateDir?: string;
  /** The runc executable (default: `runc` on PATH, else /usr/sbin/runc). */
  runc?: string;
  /** runc's state directory (default /run/runc). */
  runcRoot?: string;
  /** First host uid/gid of the 65536 ids mapped into the sandbox. */
  hostIdBase?: number;
}

function defaultRuncBin(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin'])) {
    if (dir && existsSync(join(dir, 'runc'))) return join(dir, 'runc');
  }
  return 'runc';
}

function resolveOptions(o: OciBuilderOptions): { stateDir: string; runc: Runc; hostIdBase: number } {
  return {
    stateDir: o.stateDir ?? join(tmpdir(), 'tsix-oci'),
    runc: { bin: o.runc ?? defaultRuncBin(), root: o.runcRoot ?? DEFAULT_RUNC_ROOT },
    hostIdBase: o.hostIdBase ?? DEFAULT_HOST_ID_BASE,
  };
}

/** Removes runc containers and bundle directories left by tsix processes that no longer run
 *  (all of them with `all`). Returns the container ids and bundle names it removed. */
export async function cleanupStale(o: OciBuilderOptions = {}, all = false): Promise<string[]> {
  const { stateDir, runc } = resolveOptions(o);
  const stale = (name: string): boolean => ownerGone(ownerPid(name), all);
  const removed: string[] = [];
  for (const c of await listContainers(runc)) {
    if (!c.id.startsWith(ID_PREFIX) || !stale(c.id)) continue;
    await forceDelete(runc, c.id);
    removed.push(c.id);
  }
  const builds = join(stateDir, 'builds');
  let names: string[] = [];
  try {
    names = await readdir(builds);
  } catch {
    // No bundle directory yet: nothing to remove.
  }
  for (const n of names) {
    if (!stale(n)) continue;
    await rm(join(builds, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}

/** Creates the backend: checks runc, prepares the state directory and removes stale leftovers. */
export async function createOciBuildService(o: OciBuilderOptions = {}): Promise<BuildService> {
  const opts = resolveOptions(o);
  // The helper's start-up overlaps the checks below.
  const spawner = new Spawner();
  spawner.warm();
  try {
    await checkRunc(opts.runc);
    // Searchable by the sandbox's unprivileged ids, which must reach the bundles' bind sources.
    for (const d of [opts.stateDir, join(opts.stateDir, 'builds'), join(opts.stateDir, 'rootfs'), join(opts.stateDir, 'kept')]) {
      await mkdir(d, { recursive: true, mode: 0o711 });
      await chmod(d, 0o711);
    }
  } catch (e) {
    spawner.close();
    throw e;
  }
  const svc = new OciBuildService(opts.stateDir, opts.runc, opts.hostIdBase, spawner);
  // Leftovers are removed opportunistically, while the first builds run (they only touch what
  // other, dead processes made; `runc list` and the listing took 20-70 ms of the start here):
  // failing to list them must not stop builds. settled() and close() wait for it.
  svc.later(cleanupStale(o).then(() => undefined, (err: Error) => log.warn({ err: err.message }, 'could not remove stale build containers')));
  return svc;
}

let sequence = 0;

class OciBuildService implements BuildService {
  private readonly rootfs: RootfsCache;
  private readonly pool: BundlePool;
  private readonly builds = new RunningBuilds('OCI', RESERVED);
  private readonly networkEtc: { path: string; host: string }[];
  private readonly limitSwap: boolean;

  constructor(private readonly stateDir: string, private readonly runc: Runc, private readonly hostIdBase: number, private readonly spawner: Spawner) {
    this.rootfs = new RootfsCache(join(stateDir, 'rootfs'));
    this.pool = new BundlePool(join(stateDir, 'builds'), hostIdBase, { remove: (p) => this.removeDir(p), later: (w) => this.builds.later(w) });
    this.networkEtc = NETWORK_ETC.filter((p) => existsSync(p)).map((p) => ({ path: p, host: p }));
    this.limitSwap = !existsSync(CGROUP_V1_MEMORY) || existsSync(join(CGROUP_V1_MEMORY, 'memory.memsw.limit_in_bytes'));
  }

  build(req: BuildRequest, opts: BuildOptions): Promise<BuildResult> {
    return this.builds.run(req, opts, (signal) => this.run(req, opts, signal));
  }

  settled(): Promise<void> {
    return this.builds.settled();
  }

  /** Tracks work left to run in the background (settled() and close() wait for it). */
  later(work: Promise<void>): void {
    this.builds.later(work);
  }

  async close(): Promise<void> {
    await this.builds.close();
    await this.pool.close();
    this.spawner.close();
  }

  private async run(req: BuildRequest, opts: BuildOptions, signal: AbortSignal): Promise<BuildResult> {
    const id = `${ID_PREFIX}${process.pid}-${++sequence}-${Math.random().toString(36).slice(2, 8)}`;
    const inputNames = new Set(req.inputs.map((p) => storeBasename(req, 'inputs', p)));
    const bundle = await this.pool.take(inputNames, [WORK_DIR, ...req.scratchPaths.map((_, i) => scratchDir(i))]);
    let handedOver = false;
    const t0 = performance.now();
    try {
      const layout = await this.prepareBundle(id, bundle, req);
      if (signal.aborted) throw new BuildAbortedError({ id });
      const sink = new LogSink(join(opts.logDir, `${id}.log`), opts.onLog);
      await sink.ready().catch((e: Error) => { throw new BuildSetupError(`cannot create the build log in ${opts.logDir}: ${e.message}`, { id }); });
      const t1 = performance.now();
      let exit: ContainerExit;
      try {
        exit = await this.runContainer(id, bundle.dir, req, sink, signal);
      } finally {
        await sink.close();
      }
      const t2 = performance.now();
      log.debug({ id, prepareMs: t1 - t0, runMs: t2 - t1 }, 'build ran');
      if (signal.aborted) throw new BuildAbortedError({ id, logPath: sink.path });
      if (exit.setupError !== null) {
        // Checked only now (runc refuses a missing bind source, but without naming the input):
        // a deep closure's hundreds of lstats through the FUSE mount cost every build ~5-10 ms.
        await checkHostPaths(req, id);
        throw new BuildSetupError(`cannot run the build sandbox: ${exit.setupError}`, { id, logPath: sink.path, logTail: sink.lastLines() });
      }
      const result = await this.collect(req, opts, layout, id, exit, sink, bundle);
      handedOver = true;
      return result;
    } finally {
      if (!handedOver) await this.pool.discard(bundle);
    }
  }

  /** Writes the working directory's files and config.json into a bundle from the pool. */
  private async prepareBundle(id: string, bundle: Bundle, req: BuildRequest): Promise<SandboxLayout> {
    const b = this.hostIdBase;
    const workHost = join(bundle.dir, WORK_DIR);
    for (const f of req.workingDirFiles ?? []) {
      const p = join(workHost, f.name);
      await writeFile(p, f.contents, { mode: 0o644 });
      await chown(p, b + SANDBOX_UID, b + SANDBOX_GID);
    }
    const layout: SandboxLayout = {
      rootfs: await this.rootfs.get(rootfsShape(req, this.networkEtc), req.workingDir),
      storeHost: bundle.store, workHost,
      scratchHosts: req.scratchPaths.map((_, i) => join(bundle.dir, scratchDir(i))),
      hostIdBase: b,
      cgroupsPath: `/tsix/${id}`,
      networkEtc: this.networkEtc,
      limitSwap: this.limitSwap,
    };
    // Synchronously: a few kB to the page cache, where open, write and close would each wait
    // for a turn in the thread pool.
    writeFileSync(join(bundle.dir, 'config.json'), JSON.stringify(runtimeSpec(req, layout)));
    return layout;
  }

  /** Runs the container to its end; kills it on timeout or abort. */
  private runContainer(id: string, bundle: string, req: BuildRequest, sink: LogSink, signal: AbortSignal): Promise<ContainerExit> {
    const runcLog = join(bundle, 'runc.log');
    const argv = [this.runc.bin, '--root', this.runc.root, '--log', runcLog, '--log-format', 'json', 'run', '--bundle', bundle, id];
    return new Promise((resolve, reject) => {
      // runc copies the builder's stdout and stderr through two pipes of its own, and the helper
      // relays runc's two in the order their data arrives: each stream keeps its order, but lines
      // written to the two within a few ms of each other may swap (Nix, with one pipe for both,
      // keeps that order too). Joining them in one pipe took a shell (`exec "$@" 2>&1`): ~2 ms of
      // CPU and an exec more per build, for the same guarantee.
      const ran = this.spawner.run(argv, (c) => sink.write(c));
      let killed = false;
      let timedOut = false;
      let exited = false;
      const kill = async (): Promise<void> => {
        if (killed) return;
        killed = true;
        // The container may not exist yet while runc is creating it: retry until runc exits,
        // and now and then remove it outright in case runc itself is stuck.
        for (let tries = 1; !exited; tries++) {
          await killContainer(this.runc, id);
          if (tries % FORCE_DELETE_EVERY === 0) await forceDelete(this.runc, id).catch(() => undefined);
          await new Promise((r) => setTimeout(r, KILL_RETRY_MS));
        }
      };
      const timer = req.timeoutMs === undefined ? null : setTimeout(() => { timedOut = true; void kill(); }, req.timeoutMs);
      const onAbort = (): void => void kill();
      signal.addEventListener('abort', onAbort, { once: true });
      const ended = (): void => {
        exited = true;
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      ran.then(({ code, signal: sig }) => {
        ended();
        void this.afterExit(id, runcLog, code, sig, killed, timedOut).then(resolve, reject);
      }, (e: Error) => {
        ended();
        // runc may have started before the helper was lost: its container must not outlive the build.
        void forceDelete(this.runc, id).catch(() => undefined)
          .then(() => reject(new BuildSetupError(`cannot start runc: ${e.message}`, { id })));
      });
    });
  }

  private async afterExit(id: string, runcLog: string, code: number | null, sig: NodeJS.Signals | null, killed: boolean, timedOut: boolean): Promise<ContainerExit> {
    // `runc run` removes its container when it returns, unless it was itself interrupted.
    if (hasState(this.runc, id)) await forceDelete(this.runc, id);
    const setupError = killed ? null : runcError(runcLog);
    if (killed) return { exitCode: null, signal: 'SIGKILL', timedOut, setupError };
    if (sig !== null) return { exitCode: null, signal: sig, timedOut, setupError };
    // runc reports a builder killed by signal N as exit status 128+N, as shells do.
    if (code !== null && code > 128 && code - 128 < 65) {
      const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] ?? null;
      if (name) return { exitCode: null, signal: name, timedOut, setupError };
    }
    return { exitCode: code, signal: null, timedOut, setupError };
  }

  private async collect(req: BuildRequest, opts: BuildOptions, layout: SandboxLayout, id: string, exit: ContainerExit, sink: LogSink, bundle: Bundle): Promise<BuildResult> {
    const hostPaths: (string | null)[] = [];
    for (const p of req.outputs) {
      const host = join(layout.storeHost, storeBasename(req, 'outputs', p));
      // lstat, synchronously as the bundle's other metadata operations (bundle-pool.ts).
      hostPaths.push(lstatSync(host, { throwIfNoEntry: false }) ? host : null);
    }
    const refs = await scanOutputs(hostPaths, req.needles);
    const outputs: BuiltOutput[] = req.outputs.map((path, i) => ({ path, hostPath: hostPaths[i]!, references: refs[i]! }));
    const failed = exit.exitCode !== 0;
    let keptWorkingDir: string | null = null;
    if (failed && opts.keepFailed) {
      keptWorkingDir = join(this.stateDir, 'kept', id);
      await rename(layout.workHost, keptWorkingDir);
    }
    let released: Promise<void> | null = null;
    return {
      exitCode: exit.exitCode,
      signal: exit.signal,
      timedOut: exit.timedOut,
      outputs,
      logPath: sink.path,
      logTail: sink.lastLines(),
      keptWorkingDir,
      release: () => (released ??= this.pool.give(bundle)),
    };
  }

  private async removeDir(path: string): Promise<void> {
    try {
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      log.warn({ path, err: (e as Error).message }, 'cannot remove build directory');
      throw e;
    }
  }
}

interface ContainerExit {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** runc's own error (the sandbox could not be created or the command not started), or null. */
  setupError: string | null;
}

/** The last error runc logged in its JSON log, or null when it logged none (read synchronously:
 *  the log is empty or a few lines, and each build waits for it). */
function runcError(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  let last: string | null = null;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if ((e.level === 'error' || e.level === 'fatal') && e.msg) last = e.msg;
    } catch {
      // Not JSON: runc init's raw output; the JSON entries carry the error.
    }
  }
  return last;
}
