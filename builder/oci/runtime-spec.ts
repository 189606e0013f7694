// The OCI runtime config (config.json) of one build sandbox, modelled on Nix's build sandbox:
// read-only minimal root, store paths bound read-only, a writable store directory for the
// outputs, /build as working directory, uid 1000 / gid 100 inside a user namespace, hostname
// localhost, and a network namespace holding only loopback unless the build may use the network.
import type { BuildRequest } from '../build-service.js';
import { nixSeccompProfile } from '../seccomp.js';

import { SANDBOX_GID, SANDBOX_UID } from '../nix-sandbox.js';
export { SANDBOX_GID, SANDBOX_UID };
/** Size of the uid/gid range mapped into the sandbox (container ids 0..65535). */
export const ID_MAP_SIZE = 65536;

/** Host-side locations of one build's sandbox. */
export interface SandboxLayout {
  rootfs: string;
  /** Host directory bound writable at storeDir (outputs are created in it). */
  storeHost: string;
  /** Host directory bound writable at workingDir. */
  workHost: string;
  /** Host directories bound writable at each of req.scratchPaths, in the same order. */
  scratchHosts: string[];
  /** First host uid/gid of the range mapped to container id 0. */
  hostIdBase: number;
  /** cgroup path for runc (relative to each hierarchy's root). */
  cgroupsPath: string;
  /** Host files bound read-only into /etc when the network is allowed (name resolution). */
  networkEtc: { path: string; host: string }[];
  /** Whether the memory limit may also cap swap (cgroup v1 needs swap accounting for that). */
  limitSwap: boolean;
}

// Mount options every bind carries. nosuid/nodev also keep the read-only remount legal inside
// a user namespace when the source mount is nosuid/nodev (a FUSE mount is).
const BIND_RO = ['rbind', 'ro', 'nosuid', 'nodev'];
const BIND_RW = ['rbind', 'rw', 'nosuid', 'nodev'];

// /proc entries that reveal or change the host; hidden as runc's own default spec does.
const MASKED_PATHS = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

interface Mount { destination: string; type: string; source: string; options: string[] }

function bind(destination: string, source: string, options: string[]): Mount {
  return { destination, type: 'bind', source, options };
}

function mounts(req: BuildRequest, layout: SandboxLayout): Mount[] {
  const m: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'nodev', 'mode=1777'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    bind(req.storeDir, layout.storeHost, BIND_RW),
  ];
  const base = req.inputSource.endsWith('/') ? req.inputSource : req.inputSource + '/';
  for (const p of req.inputs) m.push(bind(p, base + p.slice(req.storeDir.length + 1), BIND_RO));
  m.push(bind(req.workingDir, layout.workHost, BIND_RW));
  // Shallow destinations first, so a scratch path inside the working directory lands on top of it.
  const scratch = req.scratchPaths.map((p, i) => bind(p, layout.scratchHosts[i]!, BIND_RW));
  scratch.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
  m.push(...scratch);
  if (req.shell !== null) m.push(bind('/bin/sh', req.shell, BIND_RO));
  if (req.network) for (const e of layout.networkEtc) m.push(bind(e.path, e.host, BIND_RO));
  return m;
}

function resources(req: BuildRequest, limitSwap: boolean): Record<string, unknown> | undefined {
  const l = req.limits;
  if (!l) return undefined;
  const r: Record<string, unknown> = {};
  // OCI's swap is memory+swap: equal to the limit means no swap at all.
  if (l.memoryBytes !== undefined) r.memory = { limit: Math.floor(l.memoryBytes), ...(limitSwap ? { swap: Math.floor(l.memoryBytes) } : {}) };
  if (l.cpus !== undefined) r.cpu = { period: 100000, quota: Math.max(1000, Math.round(l.cpus * 100000)) };
  if (l.pids !== undefined) r.pids = { limit: Math.floor(l.pids) };
  return r;
}

/** The config.json object for runc. */
export function runtimeSpec(req: BuildRequest, layout: SandboxLayout): Record<string, unknown> {
  const namespaces = [{ type: 'user' }, { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!req.network) namespaces.push({ type: 'network' });
  const idMap = [{ containerID: 0, hostID: layout.hostIdBase, size: ID_MAP_SIZE }];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_GID },
      args: [req.command, ...req.args],
      env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
      cwd: req.workingDir,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: [{ type: 'RLIMIT_CORE', hard: 0, soft: 0 }],
    },
    root: { path: layout.rootfs, readonly: true },
    hostname: 'localhost',
    mounts: mounts(req, layout),
    linux: {
      uidMappings: idMap,
      gidMappings: idMap,
      namespaces,
      cgroupsPath: layout.cgroupsPath,
      ...(req.limits ? { resources: resources(req, layout.limitSwap) } : {}),
      seccomp: nixSeccompProfile(),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
