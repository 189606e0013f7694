// A derivation → a generic BuildRequest, with the environment Nix 2.8's sandbox gives a builder
// (LocalDerivationGoal::initEnv): passAsFile attributes become files in the build directory.
import { createHash } from 'node:crypto';
import type { BuildRequest } from '../../builder/build-service.js';
import { encodeBase32 } from '../../store/nix/base32.js';
import type { Derivation } from '../../eval/derivation/derivation.js';

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

/** The builder's environment, and the files passAsFile asks for. */
export function sandboxEnv(drv: Derivation, buildCores: number): { env: Record<string, string>; files: { name: string; contents: string }[] } {
  const env: Record<string, string> = {
    PATH: '/path-not-set',
    HOME: '/homeless-shelter',
    NIX_STORE: STORE_DIR,
    NIX_BUILD_CORES: String(buildCores),
  };
  const files: { name: string; contents: string }[] = [];
  const passAsFile = new Set((drv.env.get('passAsFile') ?? '').split(/[ \t\n\r]+/).filter(Boolean));
  for (const [k, v] of drv.env) {
    if (!passAsFile.has(k)) { env[k] = v; continue; }
    const fn = `.attr-${encodeBase32(createHash('sha256').update(k).digest())}`;
    files.push({ name: fn, contents: v });
    env[`${k}Path`] = `${SANDBOX_BUILD_DIR}/${fn}`;
  }
  Object.assign(env, {
    NIX_BUILD_TOP: SANDBOX_BUILD_DIR,
    TMPDIR: SANDBOX_BUILD_DIR,
    TEMPDIR: SANDBOX_BUILD_DIR,
    TMP: SANDBOX_BUILD_DIR,
    TEMP: SANDBOX_BUILD_DIR,
    PWD: SANDBOX_BUILD_DIR,
    NIX_LOG_FD: '2',
    TERM: 'xterm-256color',
  });
  return { env, files };
}

export function buildRequestFor(drv: Derivation, opts: RequestOptions): BuildRequest {
  const { env, files } = sandboxEnv(drv, opts.buildCores);
  const outputs = [...drv.outputs.values()].map((o) => o.path);
  const hashPart = (p: string) => p.slice(STORE_DIR.length + 1, STORE_DIR.length + 33);
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
    needles: [...new Set([...opts.inputClosure, ...outputs].map(hashPart))],
  };
}
