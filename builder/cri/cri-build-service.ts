// The CRI backend: each build is one pod with one container, created through the Kubernetes
// Container Runtime Interface (runtime.v1 over gRPC) of a runtime such as containerd. The host side
// of a build (its store, working, /tmp and scratch directories, the /etc files and the pod's log
// directory) lives in <stateDir>/builds/<id>; the pod and container carry the labels tsix.build=1
// and tsix.owner=<pid>, so that `cleanupStalePods` can remove what a killed process left.
//
// Where the sandbox differs from the OCI backend's, because of what CRI (containerd 1.6) offers:
// no user namespace, so the builder's uid 1000 / gid 100 are the host's ids too (its directories
// are reachable by root only); the runtime always adds HOSTNAME to the environment; /tmp is a host
// directory rather than a tmpfs; a build with network shares the host's network and UTS namespaces
// (so its hostname is the host's); the pids limit is a per-build cgroup parent (see cgroup.ts).
import { chmod, chown, lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../store/errors.js';
import { logger } from '../../store/log.js';
import {
  BuildAbortedError, BuildSetupError,
  type BuildOptions, type BuildRequest, type BuildResult, type BuildService, type BuiltOutput,
} from '../build-service.js';
import { LogSink } from '../oci/log-sink.js';
import { scanOutputs } from '../scan-outputs.js';
import { checkHostPaths, storeBasename } from '../validate-request.js';
import { ContainerState, CriCallError, CriClient, type ContainerStatus, type PodSandboxConfig } from './cri-client.js';
import { CriLogReader } from './cri-log.js';
import { parseCriUrl, type CriOptions } from './cri-url.js';
import { CGROUP_PARENT, LABEL_BUILD, LABEL_OWNER, LOG_FILE, SANDBOX_GID, SANDBOX_UID, containerConfig, etcFiles, podConfig, type CriLayout } from './pod-config.js';
import { writeSeccompProfile } from './seccomp.js';
import { createPidsParent, listParents, removeParent } from './cgroup.js';
import { ownerGone, ownerPid, RunningBuilds } from '../running-builds.js';

const log = logger('builder-cri');

/** Prefix of every pod name and build directory (tsix-<pid>-…). */
export const ID_PREFIX = 'tsix-';
/** How long the runtime may take to answer Version before a build gives up on it. */
const VERSION_DEADLINE_MS = 2_000;
/** Container status polling: every POLL_FAST_MS during the first POLL_FAST_FOR_MS (most builds
 *  in a large closure are short), then less and less often, down to every POLL_MAX_MS. */
const POLL_FAST_MS = 8;
const POLL_FAST_FOR_MS = 1_000;
const POLL_MAX_MS = 100;
/** Host files bound into /etc when a build may use the network, as Nix does for fixed-output builds. */
const NETWORK_ETC = ['/etc/resolv.conf', '/etc/services', '/etc/hosts'];
/** Sandbox directories the backend mounts itself; requests may not put their own paths there. */
const RESERVED = ['/proc', '/dev', '/etc', '/tmp', '/bin', '/sys'];

/** Checks that the runtime answers; the error names the socket and what to do. */
async function checkRuntime(client: CriClient, make: (msg: string) => Error): Promise<void> {
  try {
    await client.version(VERSION_DEADLINE_MS);
  } catch (e) {
    const why = e instanceof CriCallError && e.unreachable ? 'is not answering (is containerd running? test/setup/cri-up.sh starts one)' : `answered with an error: ${(e as Error).message}`;
    throw make(`the CRI runtime at ${client.socket} ${why}`);
  }
}

/** Removes the pods (with their containers) and build directories left by tsix processes that no
 *  longer run (all of them with `all`). Returns the pod names and directories it removed. */
export async function cleanupStalePods(url: string, all = false): Promise<string[]> {
  const opts = parseCriUrl(url);
  const client = new CriClient(opts.socket);
  try {
    await checkRuntime(client, (m) => new ConfigError(m, { url }));
    return await removeStale(client, opts, all);
  } finally {
    client.close();
  }
}

async function removeStale(client: CriClient, opts: CriOptions, all: boolean): Promise<string[]> {
  const stale = (pid: number | null): boolean => ownerGone(pid, all);
  const removed: string[] = [];
  for (const pod of await client.listPodSandboxes({ [LABEL_BUILD]: '1' })) {
    const owner = pod.labels[LABEL_OWNER];
    if (!stale(owner && /^\d+$/.test(owner) ? Number(owner) : null)) continue;
    await client.removePodSandbox(pod.id);
    removed.push(pod.metadata?.name ?? pod.id);
  }
  for (const n of await listParents()) {
    if (!stale(ownerPid(n))) continue;
    await removeParent(n);
    removed.push(`cgroup ${CGROUP_PARENT}/${n}`);
  }
  const builds = join(opts.stateDir, 'builds');
  for (const n of await readdir(builds).catch(() => [] as string[])) {
    if (!stale(ownerPid(n))) continue;
    await rm(join(builds, n), { recursive: true, force: true });
    removed.push(n);
  }
  return removed;
}

/** Opens the backend for `url` (cri+unix:///path/to/socket?image=NAME): checks that the runtime
 *  answers (ConfigError if not), prepares the state directory and removes stale leftovers. */
export async function createCriBuildService(url: string): Promise<BuildService> {
  const opts = parseCriUrl(url);
  const client = new CriClient(opts.socket);
  try {
    await checkRuntime(client, (m) => new ConfigError(m, { url }));
    for (const d of [opts.stateDir, join(opts.stateDir, 'builds'), join(opts.stateDir, 'kept')]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
    }
    await removeStale(client, opts, false);
    const seccomp = await writeSeccompProfile(opts.stateDir);
    return new CriBuildService(client, opts, seccomp);
  } catch (e) {
    client.close();
    throw e;
  }
}

let sequence = 0;

interface Exit { exitCode: number | null; signal: string | null; timedOut: boolean }

/** A pod started ahead for the next build (URL option prewarm=1); its id names the build. */
interface Spare { id: string; pod: PodSandboxConfig; podId: Promise<string | null> }

function newId(): string {
  return `${ID_PREFIX}${process.pid}-${++sequence}-${Math.random().toString(36).slice(2, 8)}`;
}

class CriBuildService implements BuildService {
  private readonly builds = new RunningBuilds('CRI', RESERVED);
  /** Pod removals under way. */
  private readonly pending = new Set<Promise<void>>();
  private readonly networkEtc = NETWORK_ETC.filter((p) => existsSync(p));
  private spare: Spare | null = null;

  constructor(private readonly client: CriClient, private readonly opts: CriOptions, private readonly seccompProfile: string | null) {}

  build(req: BuildRequest, opts: BuildOptions): Promise<BuildResult> {
    return this.builds.run(req, opts, (signal) => this.run(req, opts, signal));
  }

  settled(): Promise<void> {
    return this.builds.settled();
  }

  async close(): Promise<void> {
    await this.builds.close();
    const spare = this.spare;
    this.spare = null;
    if (spare) {
      const podId = await spare.podId;
      if (podId !== null) await this.removePod(spare.id, podId);
      await rm(join(this.opts.stateDir, 'builds', spare.id), { recursive: true, force: true });
    }
    await Promise.allSettled([...this.pending]);
    this.client.close();
  }

  /** With prewarm=1: starts the pod of a later build without network or pids limit, unless one waits. */
  private prewarm(): void {
    if (!this.opts.prewarm || this.builds.closed || this.spare) return;
    const id = newId();
    const logHost = join(this.opts.stateDir, 'builds', id, 'log');
    const pod = podConfig({ network: false }, { id, logHost, cgroupParent: CGROUP_PARENT });
    const podId = (async () => {
      await mkdir(logHost, { recursive: true, mode: 0o700 });
      return await this.client.runPodSandbox(pod);
    })().catch((e: Error) => {
      // The build that takes it starts a pod of its own; its directory goes with that build.
      log.warn({ id, err: e.message }, 'cannot start a pod ahead');
      return null;
    });
    this.spare = { id, pod, podId };
  }

  private takeSpare(req: BuildRequest): Spare | null {
    if (req.network || req.limits?.pids !== undefined) return null;
    const s = this.spare;
    this.spare = null;
    return s;
  }

  private async run(req: BuildRequest, opts: BuildOptions, signal: AbortSignal): Promise<BuildResult> {
    const spare = this.takeSpare(req);
    const id = spare?.id ?? newId();
    const dir = join(this.opts.stateDir, 'builds', id);
    let podId: string | null = null;
    let removal: Promise<void> | null = null;
    // Once the builder has exited, the pod is removed while the outputs are scanned and ingested;
    // release() (and every error path, before it throws) waits for it.
    let cgroupParent: string | null = null;
    const removePod = (): Promise<void> => (removal ??= this.track((async () => {
      const pid = podId ?? (spare ? await spare.podId : null);
      if (pid !== null) await this.removePod(id, pid);
      if (cgroupParent !== null) await removeParent(id).catch((e: Error) => log.warn({ id, err: e.message }, 'cannot remove the build cgroup'));
    })()));
    let keep = false;
    const ms: Record<string, number> = {};
    let t = performance.now();
    const lap = (phase: string): void => { const now = performance.now(); ms[phase] = Math.round(now - t); t = now; };
    try {
      await this.checkHost(req, id);
      lap('check');
      const layout = await this.prepare(id, dir, req);
      lap('prepare');
      const sink = new LogSink(join(opts.logDir, `${id}.log`), opts.onLog);
      await sink.ready().catch((e: Error) => { throw new BuildSetupError(`cannot create the build log in ${opts.logDir}: ${e.message}`, { id }); });
      let exit: Exit;
      try {
        if (signal.aborted) throw new BuildAbortedError({ id });
        if (req.limits?.pids !== undefined) {
          cgroupParent = layout.cgroupParent = await createPidsParent(id, req.limits.pids)
            .catch((e: Error) => { throw new BuildSetupError(`cannot create the build's cgroup for its pids limit: ${e.message}`, { id }); });
        }
        const pod = spare?.pod ?? podConfig(req, layout);
        podId = spare ? await spare.podId : null;
        podId ??= await this.client.runPodSandbox(pod).catch((e: Error) => { throw new BuildSetupError(`cannot create the build pod: ${e.message}`, { id }); });
        lap('pod');
        if (signal.aborted) throw new BuildAbortedError({ id });
        const ctr = await this.client.createContainer(podId, containerConfig(req, layout, this.opts.image), pod)
          .catch((e: Error) => { throw new BuildSetupError(`cannot create the build container: ${e.message}`, { id }); });
        lap('create');
        if (signal.aborted) throw new BuildAbortedError({ id });
        await this.client.startContainer(ctr).catch((e: Error) => { throw new BuildSetupError(`cannot start the builder ${req.command}: ${e.message}`, { id, logPath: sink.path }); });
        lap('start');
        this.prewarm();
        exit = await this.wait(ctr, req, join(layout.logHost, LOG_FILE), sink, signal);
        lap('wait');
        void removePod();
      } finally {
        await sink.close();
      }
      if (signal.aborted) throw new BuildAbortedError({ id, logPath: sink.path });
      const result = await this.collect(req, opts, layout, dir, exit, sink, removePod);
      keep = true;
      return result;
    } finally {
      if (!keep) {
        await removePod();
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      }
      log.debug({ id, ms }, 'build phases');
    }
  }

  /** Keeps `p` until it settles, so that close() can wait for it. */
  private track(p: Promise<void>): Promise<void> {
    this.pending.add(p);
    p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** The runtime answers, has the image, and every host path to be mounted exists (the runtime
   *  would silently create a missing one as an empty directory). */
  private async checkHost(req: BuildRequest, id: string): Promise<void> {
    await checkRuntime(this.client, (m) => new BuildSetupError(m, { id }));
    const image = await this.client.imageId(this.opts.image).catch((e: Error) => { throw new BuildSetupError(`cannot ask the CRI runtime for the image ${this.opts.image}: ${e.message}`, { id }); });
    if (image === null) throw new BuildSetupError(`the CRI runtime at ${this.opts.socket} has no image ${this.opts.image} (import it first, e.g. with test/setup/cri-up.sh or ctr -n k8s.io images import)`, { id, image: this.opts.image });
    await checkHostPaths(req, id);
  }

  private async prepare(id: string, dir: string, req: BuildRequest): Promise<CriLayout> {
    // Only root passes: the sandbox's uid 1000 is a host uid too (no user namespace in CRI here).
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const layout: CriLayout = {
      id,
      storeHost: join(dir, 'store'),
      workHost: join(dir, 'build'),
      tmpHost: join(dir, 'tmp'),
      scratchHosts: req.scratchPaths.map((_, i) => join(dir, `scratch-${i}`)),
      logHost: join(dir, 'log'),
      etc: {},
      unreadable: join(dir, 'unreadable'),
      networkEtc: this.networkEtc,
      seccompProfile: this.seccompProfile,
      cgroupParent: CGROUP_PARENT,
    };
    // Like Nix's sandbox store directory (1775 root:nixbld): builders create their outputs in it.
    await mkdir(layout.storeHost);
    await chown(layout.storeHost, 0, SANDBOX_GID);
    await chmod(layout.storeHost, 0o1775);
    await mkdir(layout.tmpHost);
    await chmod(layout.tmpHost, 0o1777);
    await mkdir(layout.logHost, { recursive: true });
    for (const d of [layout.workHost, ...layout.scratchHosts]) {
      await mkdir(d, { mode: 0o700 });
      await chown(d, SANDBOX_UID, SANDBOX_GID);
    }
    for (const f of req.workingDirFiles ?? []) {
      const p = join(layout.workHost, f.name);
      await writeFile(p, f.contents, { mode: 0o644 });
      await chown(p, SANDBOX_UID, SANDBOX_GID);
    }
    await mkdir(join(dir, 'etc'));
    for (const [name, text] of Object.entries(etcFiles(req.workingDir))) {
      layout.etc[name] = join(dir, 'etc', name);
      await writeFile(layout.etc[name]!, text, { mode: 0o644 });
    }
    await writeFile(layout.unreadable, '', { mode: 0 });
    return layout;
  }

  /** Follows the log until the container exits; kills it on timeout or abort. */
  private async wait(ctr: string, req: BuildRequest, logFile: string, sink: LogSink, signal: AbortSignal): Promise<Exit> {
    const reader = new CriLogReader(logFile, (b) => sink.write(b));
    let killed: Promise<void> | null = null;
    let timedOut = false;
    const kill = (): void => {
      killed ??= this.client.stopContainer(ctr, 0).catch((e: Error) => log.warn({ ctr, err: e.message }, 'cannot stop the build container'));
    };
    const timer = req.timeoutMs === undefined ? null : setTimeout(() => { timedOut = true; kill(); }, req.timeoutMs);
    signal.addEventListener('abort', kill, { once: true });
    let status: ContainerStatus;
    try {
      const started = performance.now();
      let delay = POLL_FAST_MS;
      for (;;) {
        await reader.drain();
        status = await this.client.containerStatus(ctr).catch((e: Error) => { throw new BuildSetupError(`lost the build container: ${e.message}`, { ctr }); });
        if (status.state === ContainerState.EXITED) break;
        await new Promise((r) => setTimeout(r, delay));
        if (performance.now() - started > POLL_FAST_FOR_MS) delay = Math.min(Math.ceil(delay * 1.5), POLL_MAX_MS);
      }
    } finally {
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', kill);
      await killed;
      await reader.close();
    }
    if (killed !== null || status.reason === 'OOMKilled') return { exitCode: null, signal: 'SIGKILL', timedOut };
    const code = status.exit_code;
    // A builder killed by signal N exits with status 128+N, as shells report it.
    if (code > 128 && code - 128 < 65) {
      const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] ?? null;
      if (name) return { exitCode: null, signal: name, timedOut };
    }
    return { exitCode: code, signal: null, timedOut };
  }

  private async collect(req: BuildRequest, opts: BuildOptions, layout: CriLayout, dir: string, exit: Exit, sink: LogSink, removePod: () => Promise<void>): Promise<BuildResult> {
    const hostPaths: (string | null)[] = [];
    for (const p of req.outputs) {
      const host = join(layout.storeHost, storeBasename(req, 'outputs', p));
      hostPaths.push(await lstat(host).then(() => host, () => null));
    }
    const refs = await scanOutputs(hostPaths, req.needles);
    const outputs: BuiltOutput[] = req.outputs.map((path, i) => ({ path, hostPath: hostPaths[i]!, references: refs[i]! }));
    let keptWorkingDir: string | null = null;
    if (exit.exitCode !== 0 && opts.keepFailed) {
      keptWorkingDir = join(this.opts.stateDir, 'kept', layout.id);
      await rename(layout.workHost, keptWorkingDir);
    }
    let released: Promise<void> | null = null;
    return {
      ...exit,
      outputs,
      logPath: sink.path,
      logTail: sink.lastLines(),
      keptWorkingDir,
      release: () => (released ??= this.builds.releaseDir(dir, (d) => removePod().then(() => rm(d, { recursive: true, force: true, maxRetries: 3 })))),
    };
  }

  private async removePod(id: string, podId: string): Promise<void> {
    try {
      await this.client.removePodSandbox(podId);
    } catch (e) {
      // Left for cleanupStalePods; the build's own result stands.
      log.warn({ id, podId, err: (e as Error).message }, 'cannot remove the build pod');
    }
  }
}

