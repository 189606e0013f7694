// The environment Nix 2.8 gives a builder in its sandbox (LocalDerivationGoal::initEnv and
// initTmpDir), and the files it puts in the build directory (passAsFile; .attrs.json and
// .attrs.sh for structured attributes). Nix keeps the variables in
// a std::map, so the builder's environ is sorted by name (byte order); so is ours, because a
// builder that writes `env` into its output must produce the same bytes as under Nix.
import { createHash } from 'node:crypto';
import { compareNames } from '../../store/castore/nodes.js';
import { TsixError } from '../../store/errors.js';
import { encodeBase32 } from '../../store/nix/base32.js';
import { dumpJson, prepareStructuredAttrs, structuredAttrsShell } from './structured-attrs.js';

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
  /** Structured attributes: the directory Nix 2.8 names in NIX_ATTRS_JSON_FILE/NIX_ATTRS_SH_FILE, its
   *  build directory on the host (default /tmp/nix-build-<name>.drv-0, what it is when nothing else
   *  is building the same derivation). */
  nixTmpDir?: string;
}

export interface SandboxEnv {
  /** The builder's environment, keys in byte order. */
  env: Record<string, string>;
  /** Files to create in the build directory before the build (passAsFile, .attrs.json/.attrs.sh). */
  files: { name: string; contents: string }[];
}

/** A derivation feature this function does not reproduce (yet). */
export class UnsupportedDerivationError extends TsixError {
  constructor(feature: string, message: string) {
    super('E_UNSUPPORTED', `${feature}: ${message}`, { feature });
  }
}

const WHITESPACE = /[ \t\n\r]+/;

/** `.attr-<nixbase32 sha256 of the name>`: where Nix 2.8 writes a passAsFile attribute. */
export function passAsFileName(attr: string): string {
  return `.attr-${encodeBase32(createHash('sha256').update(attr).digest())}`;
}

/** The sandbox environment for a derivation whose env attributes are `drvEnv`. */
export function nixSandboxEnv(drvEnv: ReadonlyMap<string, string> | Readonly<Record<string, string>>, opts: SandboxEnvOptions): SandboxEnv {
  const attrs = drvEnv instanceof Map ? drvEnv : new Map(Object.entries(drvEnv));
  const buildDir = opts.buildDir ?? '/build';
  // Assignment order matters only for overrides, and follows Nix's: derivation attributes
  // override PATH/HOME/NIX_STORE/NIX_BUILD_CORES and are overridden by what comes after them.
  const env = new Map<string, string>([
    ['PATH', '/path-not-set'],
    ['HOME', '/homeless-shelter'],
    ['NIX_STORE', opts.storeDir ?? '/nix/store'],
    ['NIX_BUILD_CORES', String(opts.cores)],
  ]);
  const structured = attrs.get('__json');
  const { files, impureEnvVars } = structured === undefined ? passAttributes(attrs, env, buildDir) : passStructured(structured, attrs, env, opts);
  for (const k of ['NIX_BUILD_TOP', 'TMPDIR', 'TEMPDIR', 'TMP', 'TEMP', 'PWD']) env.set(k, buildDir);
  if (opts.fixedOutput) {
    env.set('NIX_OUTPUT_CHECKED', '1');
    const lookup = opts.impureEnv ?? ((n: string) => process.env[n]);
    for (const n of impureEnvVars) env.set(n, lookup(n) ?? '');
  }
  env.set('NIX_LOG_FD', '2');
  env.set('TERM', 'xterm-256color');
  const sorted: Record<string, string> = {};
  for (const k of [...env.keys()].sort(compareNames)) sorted[k] = env.get(k)!;
  return { env: sorted, files };
}

interface Passed { files: SandboxEnv['files']; impureEnvVars: string[] }

/** Without structured attributes: every attribute becomes a variable, passAsFile ones a file. */
function passAttributes(attrs: ReadonlyMap<string, string>, env: Map<string, string>, buildDir: string): Passed {
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
  return { files, impureEnvVars: (attrs.get('impureEnvVars') ?? '').split(WHITESPACE).filter(Boolean) };
}

/** With structured attributes: no attribute variables, .attrs.json and .attrs.sh instead. */
function passStructured(jsonText: string, attrs: ReadonlyMap<string, string>, env: Map<string, string>, opts: SandboxEnvOptions): Passed {
  // Besides __json, a structured derivation's env holds exactly its output paths.
  const outputs = Object.fromEntries([...attrs].filter(([k]) => k !== '__json'));
  const json = prepareStructuredAttrs(jsonText, outputs);
  if (json.exportReferencesGraph !== undefined) {
    throw new UnsupportedDerivationError('exportReferencesGraph', 'structured attributes with exportReferencesGraph need the store\'s path infos, which the sandbox environment does not have');
  }
  // Nix 2.8 names the files by its build directory on the host, not the one in the sandbox.
  const hostDir = opts.nixTmpDir ?? `/tmp/nix-build-${typeof json.name === 'string' ? json.name : ''}.drv-0`;
  env.set('NIX_ATTRS_JSON_FILE', `${hostDir}/.attrs.json`);
  env.set('NIX_ATTRS_SH_FILE', `${hostDir}/.attrs.sh`);
  const impure = json.impureEnvVars;
  return {
    files: [{ name: '.attrs.json', contents: dumpJson(json) }, { name: '.attrs.sh', contents: structuredAttrsShell(json) }],
    impureEnvVars: Array.isArray(impure) ? impure.filter((x): x is string => typeof x === 'string') : [],
  };
}
