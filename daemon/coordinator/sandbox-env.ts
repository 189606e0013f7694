// The environment Nix 2.8 gives a builder in its sandbox (LocalDerivationGoal::initEnv and
// initTmpDir), and the files passAsFile puts in the build directory. Nix keeps the variables in
// a std::map, so the builder's environ is sorted by name (byte order); so is ours, because a
// builder that writes `env` into its output must produce the same bytes as under Nix.
import { createHash } from 'node:crypto';
import { TsixError } from '../../store/errors.js';
import { encodeBase32 } from '../../store/nix/base32.js';

export interface SandboxEnvOptions {
  /** NIX_STORE (default /nix/store). */
  storeDir?: string;
  /** Nix's sandbox-build-dir, the builder's working directory (default /build). */
  buildDir?: string;
  /** NIX_BUILD_CORES (Nix's `cores` setting; Nix 2.8 passes its value as is, 0 included). */
  cores: number;
  /** Whether the derivation is fixed-output: adds NIX_OUTPUT_CHECKED=1 and its impureEnvVars. */
  fixedOutput: boolean;
  /** Where impureEnvVars take their values (Nix: its own environment); unset gives ''. Default: process.env. */
  impureEnv?: (name: string) => string | undefined;
}

export interface SandboxEnv {
  /** The builder's environment, keys in byte order. */
  env: Record<string, string>;
  /** Files to create in the build directory before the build (passAsFile). */
  files: { name: string; contents: string }[];
}

/** A derivation feature this function does not reproduce (yet). */
export class UnsupportedDerivationError extends TsixError {
  constructor(feature: string, message: string) {
    super('E_UNSUPPORTED', `${feature}: ${message}`, { feature });
  }
}

const WHITESPACE = /[ \t\n\r]+/;

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** `.attr-<nixbase32 sha256 of the name>`: where Nix 2.8 writes a passAsFile attribute. */
export function passAsFileName(attr: string): string {
  return `.attr-${encodeBase32(createHash('sha256').update(attr).digest())}`;
}

/** The sandbox environment for a derivation whose env attributes are `drvEnv`. */
export function nixSandboxEnv(drvEnv: ReadonlyMap<string, string> | Readonly<Record<string, string>>, opts: SandboxEnvOptions): SandboxEnv {
  const attrs = drvEnv instanceof Map ? drvEnv : new Map(Object.entries(drvEnv));
  if (attrs.has('__json')) {
    throw new UnsupportedDerivationError('__structuredAttrs', 'derivations with structured attributes (.attrs.json/.attrs.sh) are not supported by the sandbox environment yet');
  }
  const buildDir = opts.buildDir ?? '/build';
  // Assignment order matters only for overrides, and follows Nix's: derivation attributes
  // override PATH/HOME/NIX_STORE/NIX_BUILD_CORES and are overridden by what comes after them.
  const env = new Map<string, string>([
    ['PATH', '/path-not-set'],
    ['HOME', '/homeless-shelter'],
    ['NIX_STORE', opts.storeDir ?? '/nix/store'],
    ['NIX_BUILD_CORES', String(opts.cores)],
  ]);
  const files: SandboxEnv['files'] = [];
  const passAsFile = new Set((attrs.get('passAsFile') ?? '').split(WHITESPACE).filter(Boolean));
  for (const [k, v] of attrs) {
    if (!passAsFile.has(k)) {
      env.set(k, v);
      continue;
    }
    const name = passAsFileName(k);
    files.push({ name, contents: v });
    env.set(`${k}Path`, `${buildDir}/${name}`);
  }
  for (const k of ['NIX_BUILD_TOP', 'TMPDIR', 'TEMPDIR', 'TMP', 'TEMP', 'PWD']) env.set(k, buildDir);
  if (opts.fixedOutput) {
    env.set('NIX_OUTPUT_CHECKED', '1');
    const lookup = opts.impureEnv ?? ((n: string) => process.env[n]);
    for (const n of (attrs.get('impureEnvVars') ?? '').split(WHITESPACE).filter(Boolean)) env.set(n, lookup(n) ?? '');
  }
  env.set('NIX_LOG_FD', '2');
  env.set('TERM', 'xterm-256color');
  const sorted: Record<string, string> = {};
  for (const k of [...env.keys()].sort(byteOrder)) sorted[k] = env.get(k)!;
  return { env: sorted, files };
}
