// A derivation → a generic BuildRequest, with the environment Nix 2.8's sandbox gives a builder
// (sandbox-env.ts): passAsFile and structured attributes become files in the build directory.
import type { BuildRequest } from '../../builder/build-service.js';
import type { Derivation } from '../../eval/derivation/derivation.js';
import { nixSandboxEnv } from './sandbox-env.js';

export const SANDBOX_BUILD_DIR = '/build';
export const STORE_DIR = '/nix/store';

export interface RequestOptions {
  /** Host directory where input store paths are readable (the FUSE mount). */
  inputSource: string;
  /** Every store path the build may read: the closure of its inputs. */
  inputClosure: string[];
  /** Host file provided as /bin/sh (Nix's sandbox-paths /bin/sh=…), or null. */
  shell: string | null;
  buildCores: number;
  timeoutMs?: number;
}

export function isFixedOutput(drv: Derivation): boolean {
  const outs = [...drv.outputs.values()];
  return outs.length === 1 && outs[0]!.hash !== '' && outs[0]!.hashAlgo !== '';
}

export function buildRequestFor(drv: Derivation, opts: RequestOptions): BuildRequest {
  const { env, files } = nixSandboxEnv(drv.env, { cores: opts.buildCores, fixedOutput: isFixedOutput(drv), storeDir: STORE_DIR, buildDir: SANDBOX_BUILD_DIR });
  const outputs = [...drv.outputs.values()].map((o) => o.path);
  return {
    command: drv.builder,
    args: drv.args,
    env,
    storeDir: STORE_DIR,
    inputSource: opts.inputSource,
    inputs: opts.inputClosure,
    outputs,
    workingDir: SANDBOX_BUILD_DIR,
    workingDirFiles: files,
    scratchPaths: [],
    network: isFixedOutput(drv),
    shell: opts.shell,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    // The coordinator finds references while it ingests the outputs: one read of each output,
    // not a scan by the builder and then the ingest.
    needles: [],
  };
}
