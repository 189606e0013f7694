// The builder's interface: generic build requests, nothing Nix-specific.
import { TsixError, type ErrorData } from '../store/errors.js';

export interface BuildRequest {
  /** Absolute path of the program inside the sandbox, and its arguments. */
  command: string;
  args: string[];
  /** The builder's whole environment, in this order. Include HOME: without it a runtime may set one (runc: from /etc/passwd). */
  env: Record<string, string>;
  /** Directory inside the sandbox where store paths live, e.g. /nix/store. */
  storeDir: string;
  /** Host directory where the input store paths can be read (the FUSE mount); basenames are kept.
   *  It and its parents must be searchable by other users (the sandbox runs under unprivileged ids). */
  inputSource: string;
  /** Input store paths (full paths under storeDir) to appear read-only. */
  inputs: string[];
  /** Store paths the build must create (full paths under storeDir), writable during the build. */
  outputs: string[];
  /** Working directory inside the sandbox (created writable, holding only `workingDirFiles`), e.g. /build. */
  workingDir: string;
  /** Files placed in the working directory before the build starts (plain names, readable by the build). */
  workingDirFiles?: { name: string; contents: string | Buffer }[];
  /** Extra writable empty directories inside the sandbox. */
  scratchPaths: string[];
  /** Whether the sandbox may reach the network. */
  network: boolean;
  /** Host file to provide as /bin/sh, or null for none. */
  shell: string | null;
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
  /** Wall-clock limit; the build is killed and reported when it is exceeded. */
  timeoutMs?: number;
  /** Strings (store path hash parts) to look for in each output's files and symlink targets. */
  needles: string[];
}

export interface BuiltOutput {
  /** The output's store path (as in the request). */
  path: string;
  /** Where the output's tree lies on the host until `release` is called; null if the build did not create it. */
  hostPath: string | null;
  /** The needles found in this output. */
  references: string[];
}

export interface BuildResult {
  /** Exit status of the builder process; null when killed by a signal. */
  exitCode: number | null;
  /** The signal that ended the builder (e.g. 'SIGKILL' after a timeout), or null. */
  signal: string | null;
  timedOut: boolean;
  outputs: BuiltOutput[];
  /** Host path of the combined stdout/stderr log file (kept after release). */
  logPath: string;
  /** The last lines of the log (at most LOG_TAIL_LINES), for error messages. */
  logTail: string[];
  /** With `keepFailed` and a failed build: the host directory holding the working directory, kept by `release`; else null. */
  keptWorkingDir: string | null;
  /** Removes the scratch directories (outputs included); call once they are ingested. */
  release(): Promise<void>;
}

export interface BuildOptions {
  /** Aborting kills the build and cleans up its sandbox. */
  signal?: AbortSignal;
  /** Called with each line the build prints. */
  onLog?: (line: string) => void;
  /** Directory where the log file is written. */
  logDir: string;
  /** Keep the working directory after a failure (reported in the error data). */
  keepFailed?: boolean;
}

/** How many log lines `BuildResult.logTail` keeps. */
export const LOG_TAIL_LINES = 25;

export interface BuildService {
  /** Runs one build in a fresh sandbox. Resolves even when the build fails (see exitCode/timedOut).
   *  Rejects with BuildSetupError when the sandbox cannot be set up or the command cannot be started,
   *  with BuildAbortedError when `opts.signal` aborts (the sandbox and outputs are removed first),
   *  and with InvalidInputError for a malformed request (e.g. a path outside storeDir). */
  build(req: BuildRequest, opts: BuildOptions): Promise<BuildResult>;
  /** Resolves once the clean-up of every released build (its files, its pod) has finished: a
   *  result's `release()` answers as soon as its outputs are gone from their host paths. */
  settled(): Promise<void>;
  /** Releases the backend's resources; running builds are aborted. */
  close(): Promise<void>;
}

/** The sandbox could not be created or the command could not be started (not a failure of the build itself). */
export class BuildSetupError extends TsixError {
  constructor(message: string, data: ErrorData = {}) {
    super('E_BUILD_SETUP', message, data);
  }
}

/** The build was aborted through BuildOptions.signal; its sandbox has been removed. */
export class BuildAbortedError extends TsixError {
  constructor(data: ErrorData = {}) {
    super('E_ABORTED', 'the build was aborted', data);
  }
}
