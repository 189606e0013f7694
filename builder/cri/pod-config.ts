// What the CRI runtime is asked to create for one build: a pod (hostname localhost, a network
// namespace holding only loopback unless the build may use the network) and one container shaped
// like Nix's build sandbox — uid 1000 / gid 100 without capabilities, read-only root, the store
// directory a writable scratch directory with each input bound read-only on top of it, the
// working directory, /tmp and scratch paths writable, /etc holding Nix's sandbox files only.
import type { BuildRequest } from '../build-service.js';
import { SANDBOX_GID, SANDBOX_UID } from '../nix-sandbox.js';
import { NamespaceMode, type ContainerConfig, type CriMount, type PodSandboxConfig } from './cri-client.js';

export { SANDBOX_GID, SANDBOX_UID, etcFiles } from '../nix-sandbox.js';

/** Labels on every pod and container this backend creates; `tsix.owner` is the creating process. */
export const LABEL_BUILD = 'tsix.build';
export const LABEL_OWNER = 'tsix.owner';
/** Name of the container log file inside the pod's log directory. */
export const LOG_FILE = 'build.log';
/** cgroup parent of every pod (cgroupfs), so a teardown knows where they are. */
export const CGROUP_PARENT = '/tsix-cri';

/** /proc entries hidden or read-only, as in runc's default spec (containerd's CRI sets none by itself). */
const MASKED_PATHS = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Host-side locations of one build. */
export interface CriLayout {
  id: string;
  /** Bound writable at storeDir; outputs are created in it. */
  storeHost: string;
  workHost: string;
  tmpHost: string;
  scratchHosts: string[];
  /** The pod's log directory (the runtime writes LOG_FILE there). */
  logHost: string;
  /** Generated /etc files, by name (passwd, group, hosts). */
  etc: Record<string, string>;
  /** An empty file nobody in the sandbox can read, bound over what the runtime would add (/etc/hostname…). */
  unreadable: string;
  /** Host files bound into /etc when the build may use the network. */
  networkEtc: string[];
  /** seccomp profile file, or null for none. */
  seccompProfile: string | null;
  /** The pod's cgroup parent (CGROUP_PARENT, or a per-build one below it that carries a pids limit). */
  cgroupParent: string;
}

export function labels(): Record<string, string> {
  return { [LABEL_BUILD]: '1', [LABEL_OWNER]: String(process.pid) };
}

function namespaces(req: Pick<BuildRequest, 'network'>): { network: number; pid: number; ipc: number } {
  // A build with network shares the host's, as a fixed-output derivation does in Nix.
  return { network: req.network ? NamespaceMode.NODE : NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD };
}

export function podConfig(req: Pick<BuildRequest, 'network'>, layout: Pick<CriLayout, 'id' | 'logHost' | 'cgroupParent'>): PodSandboxConfig {
  return {
    metadata: { name: layout.id, uid: layout.id, namespace: 'tsix', attempt: 0 },
    // A pod in the host's network shares its UTS namespace too, whose name it cannot set.
    hostname: req.network ? '' : 'localhost',
    log_directory: layout.logHost,
    labels: labels(),
    linux: { cgroup_parent: layout.cgroupParent, security_context: { namespace_options: namespaces(req) } },
  };
}

function mounts(req: BuildRequest, layout: CriLayout): CriMount[] {
  const rw = (container_path: string, host_path: string): CriMount => ({ container_path, host_path, readonly: false });
  const ro = (container_path: string, host_path: string): CriMount => ({ container_path, host_path, readonly: true });
  // The runtime orders mounts by depth, so each input lands on top of the store directory.
  const m: CriMount[] = [rw(req.storeDir, layout.storeHost)];
  const base = req.inputSource.endsWith('/') ? req.inputSource : req.inputSource + '/';
  for (const p of req.inputs) m.push(ro(p, base + p.slice(req.storeDir.length + 1)));
  m.push(rw(req.workingDir, layout.workHost), rw('/tmp', layout.tmpHost));
  req.scratchPaths.forEach((p, i) => m.push(rw(p, layout.scratchHosts[i]!)));
  if (req.shell !== null) m.push(ro('/bin/sh', req.shell));
  const etc = new Map(Object.entries(layout.etc).map(([name, host]) => [`/etc/${name}`, host]));
  if (req.network) for (const host of layout.networkEtc) etc.set(host, host);
  // The runtime binds its own /etc/hostname and /etc/resolv.conf unless the container has a mount
  // there; Nix's sandbox has neither (resolv.conf only with network).
  for (const p of ['/etc/hostname', '/etc/resolv.conf']) if (!etc.has(p)) etc.set(p, layout.unreadable);
  for (const [path, host] of etc) m.push(ro(path, host));
  return m;
}

function resources(req: BuildRequest): ContainerConfig['linux']['resources'] {
  const l = req.limits;
  if (!l || (l.memoryBytes === undefined && l.cpus === undefined)) return undefined;
  return {
    ...(l.memoryBytes !== undefined ? { memory_limit_in_bytes: Math.floor(l.memoryBytes) } : {}),
    ...(l.cpus !== undefined ? { cpu_period: 100000, cpu_quota: Math.max(1000, Math.round(l.cpus * 100000)) } : {}),
  };
}

export function containerConfig(req: BuildRequest, layout: CriLayout, image: string): ContainerConfig {
  return {
    metadata: { name: 'build', attempt: 0 },
    image: { image },
    command: [req.command],
    args: req.args,
    working_dir: req.workingDir,
    envs: Object.entries(req.env).map(([key, value]) => ({ key, value })),
    mounts: mounts(req, layout),
    labels: labels(),
    log_path: LOG_FILE,
    linux: {
      resources: resources(req),
      security_context: {
        capabilities: { drop_capabilities: ['ALL'] },
        namespace_options: namespaces(req),
        run_as_user: { value: SANDBOX_UID },
        run_as_group: { value: SANDBOX_GID },
        readonly_rootfs: true,
        no_new_privs: true,
        masked_paths: MASKED_PATHS,
        readonly_paths: READONLY_PATHS,
        ...(layout.seccompProfile ? { seccomp: { profile_type: 2, localhost_ref: layout.seccompProfile } } : {}),
      },
    },
  };
}
