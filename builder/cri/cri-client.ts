// A small promise-based client for the CRI RuntimeService and ImageService over a unix socket.
// Every call carries a deadline, so an unresponsive runtime turns into an error, never a hang.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRI_PROTO } from './cri-proto.js';

/** Deadline of the calls that only read or change bookkeeping. */
export const SHORT_DEADLINE_MS = 5_000;
/** Deadline of the calls that start or stop processes and mount filesystems. */
export const LONG_DEADLINE_MS = 120_000;

export const NamespaceMode = { POD: 0, CONTAINER: 1, NODE: 2 } as const;
export const ContainerState = { CREATED: 'CONTAINER_CREATED', RUNNING: 'CONTAINER_RUNNING', EXITED: 'CONTAINER_EXITED', UNKNOWN: 'CONTAINER_UNKNOWN' } as const;

export interface CriMount { container_path: string; host_path: string; readonly: boolean }
export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  hostname: string;
  log_directory: string;
  labels: Record<string, string>;
  linux: {
    cgroup_parent: string;
    security_context: { namespace_options: { network: number; pid: number; ipc: number } };
  };
}
export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string };
  command: string[];
  args: string[];
  working_dir: string;
  envs: { key: string; value: string }[];
  mounts: CriMount[];
  labels: Record<string, string>;
  log_path: string;
  linux: {
    resources?: { cpu_period?: number; cpu_quota?: number; memory_limit_in_bytes?: number };
    security_context: {
      capabilities: { drop_capabilities: string[] };
      namespace_options: { network: number; pid: number; ipc: number };
      run_as_user: { value: number };
      run_as_group: { value: number };
      readonly_rootfs: boolean;
      no_new_privs: boolean;
      masked_paths: string[];
      readonly_paths: string[];
      seccomp?: { profile_type: number; localhost_ref: string };
    };
  };
}
export interface ContainerStatus {
  id: string;
  state: string;
  exit_code: number;
  reason: string;
  message: string;
  log_path: string;
}
export interface PodSandbox { id: string; labels: Record<string, string>; state: string; metadata: { name: string } | null }

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type Method = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<unknown>) => void;
type ServiceClient = grpc.Client & Record<string, Method>;

let definition: grpc.GrpcObject | null = null;

/** The loaded runtime.v1 package (proto-loader reads files only, so the text goes through a temp file once). */
function runtimeV1(): grpc.GrpcObject {
  if (definition) return definition;
  const dir = mkdtempSync(join(tmpdir(), 'tsix-cri-proto-'));
  try {
    const file = join(dir, 'cri.proto');
    writeFileSync(file, CRI_PROTO);
    const pkg = protoLoader.loadSync(file, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    definition = (grpc.loadPackageDefinition(pkg).runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
    return definition;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A runtime's answer that is an error: the gRPC status code name and the runtime's message. */
export class CriCallError extends Error {
  constructor(readonly method: string, readonly grpcCode: number, readonly details: string) {
    super(`CRI ${method}: ${details || grpc.status[grpcCode]}`);
  }
  /** The runtime could not be reached (no socket, nothing listening, deadline passed). */
  get unreachable(): boolean {
    return this.grpcCode === grpc.status.UNAVAILABLE || this.grpcCode === grpc.status.DEADLINE_EXCEEDED;
  }
  get notFound(): boolean {
    return this.grpcCode === grpc.status.NOT_FOUND;
  }
}

export class CriClient {
  private readonly runtime: ServiceClient;
  private readonly images: ServiceClient;

  /** `socket` is the runtime's unix socket path. No connection is made until the first call. */
  constructor(readonly socket: string) {
    const v1 = runtimeV1();
    const address = `unix://${socket}`;
    const RuntimeService = v1.RuntimeService as grpc.ServiceClientConstructor;
    const ImageService = v1.ImageService as grpc.ServiceClientConstructor;
    const credentials = grpc.credentials.createInsecure();
    // One channel for both services; the runtime answers a few small messages.
    this.runtime = new RuntimeService(address, credentials, { 'grpc.max_receive_message_length': 16 << 20 }) as ServiceClient;
    this.images = new ImageService(address, credentials, { channelOverride: this.runtime.getChannel() }) as ServiceClient;
  }

  private call<T>(client: ServiceClient, method: string, req: unknown, deadlineMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      client[method]!.call(client, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err) reject(new CriCallError(method, err.code, err.details));
        else resolve(res as T);
      });
    });
  }

  async version(deadlineMs = SHORT_DEADLINE_MS): Promise<{ runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call(this.runtime, 'Version', { version: 'v1' }, deadlineMs);
  }

  /** The image's id, or null when the runtime does not have it. */
  async imageId(image: string): Promise<string | null> {
    const r = await this.call<{ image: { id: string } | null }>(this.images, 'ImageStatus', { image: { image } }, SHORT_DEADLINE_MS);
    return r.image?.id || null;
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call<{ pod_sandbox_id: string }>(this.runtime, 'RunPodSandbox', { config }, LONG_DEADLINE_MS)).pod_sandbox_id;
  }

  /** Stops every container of the pod and the pod itself, then removes them all; quiet when the pod
   *  is gone. (RemovePodSandbox stops first, as StopPodSandbox would: one round trip instead of two.) */
  async removePodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, LONG_DEADLINE_MS);
  }

  async listPodSandboxes(labels: Record<string, string>): Promise<PodSandbox[]> {
    return (await this.call<{ items: PodSandbox[] }>(this.runtime, 'ListPodSandbox', { filter: { label_selector: labels } }, SHORT_DEADLINE_MS)).items;
  }

  async listContainers(labels: Record<string, string>): Promise<{ id: string; pod_sandbox_id: string; state: string }[]> {
    return (await this.call<{ containers: { id: string; pod_sandbox_id: string; state: string }[] }>(this.runtime, 'ListContainers', { filter: { label_selector: labels } }, SHORT_DEADLINE_MS)).containers;
  }

  async createContainer(podId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ container_id: string }>(this.runtime, 'CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: sandboxConfig }, LONG_DEADLINE_MS)).container_id;
  }

  async startContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'StartContainer', { container_id: id }, LONG_DEADLINE_MS);
  }

  /** Kills the container's processes (timeout 0: SIGKILL at once). */
  async stopContainer(id: string, timeoutSeconds = 0): Promise<void> {
    await this.call(this.runtime, 'StopContainer', { container_id: id, timeout: timeoutSeconds }, LONG_DEADLINE_MS);
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    return (await this.call<{ status: ContainerStatus }>(this.runtime, 'ContainerStatus', { container_id: id }, SHORT_DEADLINE_MS)).status;
  }

  close(): void {
    this.images.close();
    this.runtime.close();
  }
}
