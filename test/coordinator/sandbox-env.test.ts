// nixSandboxEnv against real Nix 2.8: the same derivation is built in Nix's sandbox and in the
// OCI backend with the environment and files nixSandboxEnv gives; each builder prints its own
// initial environ (/proc/$$/environ, exact bytes and order) and the passAsFile files, and the two
// logs must be identical.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildService } from '../../builder/build-service.js';
import { createOciBuildService } from '../../builder/oci/oci-build-service.js';
import { nixSandboxEnv, passAsFileName } from '../../daemon/coordinator/sandbox-env.js';
import { NIX_ENV, requireNix } from '../helpers/nix.js';

const CORES = 3;
const IMPURE = { TSIX_IMPURE_SET: 'from the caller' };
// Prints the environ and every file Nix put in the build directory as hex, so no byte can hide,
// then writes "hello" to every output (named in .attrs.sh with structured attributes).
const SCRIPT = String.raw`xxd -p /proc/$$/environ | tr -d "
"; echo
for f in .attr*; do [ -e "$f" ] && { echo "$f"; xxd -p "$f" | tr -d "
"; echo; }; done
if [ -e .attrs.sh ]; then outs=$(grep "^declare -A outputs=" .attrs.sh | grep -o "='[^']*'" | tr -d "='"); else outs=$(for o in ${'$'}{outputs:-out}; do eval "echo \$$o"; done); fi
for p in $outs; do echo hello > $p; done`;

let dir: string;
let svc: BuildService;

test.before(async () => {
  requireNix();
  dir = await mkdtemp(join(tmpdir(), 'tsix-sandbox-env-'));
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'inputs'));
  await mkdir(join(dir, 'logs'));
  svc = await createOciBuildService({ stateDir: join(dir, 'oci') });
});

test.after.always(async () => {
  await svc?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Drv { env: Record<string, string>; outputs: Record<string, { path: string; hash?: string }> }

async function compare(t: import('ava').ExecutionContext, name: string, attrs: string): Promise<void> {
  const expr = join(dir, `${name}.nix`);
  const tag = `${process.pid}-${Date.now()}`;
  await writeFile(expr, `derivation ({ name = "sandbox-env-${name}-${tag}"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" ${JSON.stringify(SCRIPT).replaceAll('${', '\\${')} ]; } // ${attrs})`);
  const drvPath = execFileSync('nix-instantiate', [expr], { env: NIX_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const drv = (JSON.parse(execFileSync('nix', ['show-derivation', drvPath], { env: NIX_ENV, encoding: 'utf8' })) as Record<string, Drv>)[drvPath]!;
  execFileSync('nix-build', ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox', '--cores', String(CORES), '--no-out-link', drvPath],
    { env: { ...NIX_ENV, ...IMPURE }, stdio: 'ignore' });
  const nixLog = execFileSync('nix-store', ['-l', drvPath], { env: NIX_ENV, encoding: 'utf8' });

  const fixedOutput = Object.values(drv.outputs).some((o) => o.hash);
  const { env, files } = nixSandboxEnv(drv.env, { cores: CORES, fixedOutput, impureEnv: (n) => (IMPURE as Record<string, string>)[n] });
  const r = await svc.build({
    command: '/bin/sh', args: ['-c', SCRIPT], env, storeDir: '/nix/store', inputSource: join(dir, 'inputs'), inputs: [],
    outputs: Object.values(drv.outputs).map((o) => o.path), workingDir: '/build', workingDirFiles: files,
    scratchPaths: [], network: fixedOutput, shell: '/bin/busybox', needles: [],
  }, { logDir: join(dir, 'logs') });
  try {
    t.is(r.exitCode, 0, r.logTail.join('\n'));
    t.is(await readFile(r.logPath, 'utf8'), nixLog);
  } finally {
    await r.release();
  }
}

test.serial('plain derivation: attributes, overrides of PATH/HOME/TMPDIR/TERM, several outputs, passAsFile', async (t) => {
  await compare(t, 'plain', `{
    outputs = [ "out" "dev" ];
    foo = "bar"; empty = ""; multi = "line 1\\nline 2\\n"; spaced = "  a  b  "; unicode = "ünïcødé ✓";
    PATH = "/my/path"; HOME = "/my/home"; TMPDIR = "/my/tmp"; TERM = "dumb"; NIX_BUILD_CORES = "99";
    list = [ "a" "b" 1 true null ]; num = 42;
    text = "passed\\nas a file\\n"; other = "second file";
    passAsFile = [ "text" "other" "notAnAttr" ];
  }`);
});

test.serial('fixed-output derivation: NIX_OUTPUT_CHECKED and impureEnvVars from the caller', async (t) => {
  await compare(t, 'fixed', `{
    outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = builtins.hashString "sha256" "hello\\n";
    impureEnvVars = [ "TSIX_IMPURE_SET" "TSIX_IMPURE_UNSET" ];
  }`);
});

test('passAsFile file names are Nix\'s', (t) => {
  // sha256("text") in nixbase32, as Nix 2.8 names the file for the attribute `text`.
  const expected = execFileSync('nix-hash', ['--type', 'sha256', '--to-base32', execFileSync('bash', ['-c', 'printf %s text | sha256sum | cut -d" " -f1'], { encoding: 'utf8' }).trim()], { env: NIX_ENV, encoding: 'utf8' }).trim();
  t.is(passAsFileName('text'), `.attr-${expected}`);
});

test.serial('structured attributes: .attrs.json as nlohmann writes it, .attrs.sh, NIX_ATTRS_*_FILE', async (t) => {
  await compare(t, 'structured', `{
    __structuredAttrs = true;
    outputs = [ "out" "dev" ];
    foo = "bar"; n = 42; big = 5000000000; neg = -7; zero = 0;
    f = 1.5; whole = 100.0; tiny = 0.0001; tinier = 0.00001; huge = 1.0e20; huger = 1.0e300; frac = 0.1; third = 1.0 / 3.0; negf = -2.5;
    e14 = 1.0e14; e15 = 1.0e15; e16 = 1.0e16; m3 = 0.001; m5 = 0.0001234; n6 = 123456.0; n7 = 1234567.0; nf = -0.5e-7; fz = 0.0;
    fl = [ 1.5 2.0 ]; fs = { a = 3.0; };
    b = true; no = false; nul = null;
    l = [ 1 "a" [ 2 ] { x = 1; } ]; strs = [ "x" "it's" 3 true null ]; empty = [ ];
    s = { a = "é\\n\\"\\\\/"; z = 1; b = [ ]; }; flat = { k = "v"; "it's" = 2; }; emptySet = { };
    "not-a-var" = "x"; ctl = builtins.fromJSON ''"tab\\there\\u0001\\u001f\\u007f"'';
    passAsFile = [ "foo" ];
  }`);
});

test.serial('structured fixed-output derivation: impureEnvVars from the JSON list', async (t) => {
  await compare(t, 'structured-fixed', `{
    __structuredAttrs = true;
    outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = builtins.hashString "sha256" "hello\\n";
    impureEnvVars = [ "TSIX_IMPURE_SET" "TSIX_IMPURE_UNSET" ];
  }`);
});

test('exportReferencesGraph with structured attributes is refused with a clear error', (t) => {
  const err = t.throws(() => nixSandboxEnv({ __json: '{"exportReferencesGraph":{"g":["/nix/store/x"]}}', out: '/nix/store/y' }, { cores: 1, fixedOutput: false }));
  t.is((err as { code?: string }).code, 'E_UNSUPPORTED');
});
