// The builder's interface: generic build requests, nothing Nix-specific.

export interface BuildRequest {
  /** Absolute path of the program inside the sandbox, and its arguments. */
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Directory inside the sandbox where store paths live, e.g. /nix/store. */
  storeDir: string;
  /** Host directory where the input store paths can be read (the FUSE mount); basenames are kept. */
  inputSource: string;
  /** Input store paths (full paths under storeDir) to appear read-only. */
  inputs: string[];
  /** Store paths the build must create (full paths under storeDir), writable during the build. */
  outputs: string[];
  /** Working directory inside the sandbox (created empty and writable), e.g. /build. */
  workingDir: string;
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
  signal: string | null;
  timedOut: boolean;
  outputs: BuiltOutput[];
  /** Host path of the combined stdout/stderr log file (kept after release). */
  logPath: string;
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

export interface BuildService {
  /** Runs one build in a fresh sandbox. Resolves even when the build fails (see exitCode/timedOut); rejects only when the sandbox cannot be set up. */
  build(req: BuildRequest, opts: BuildOptions): Promise<BuildResult>;
  /** Releases the backend's resources; running builds are aborted. */
  close(): Promise<void>;
}
