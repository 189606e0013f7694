// The OCI (runc) backend: the BuildService conformance suite, then what is specific to runc.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildRequest, BuildService } from '../../builder/build-service.js';
import { DEFAULT_HOST_ID_BASE, cleanupStale, createOciBuildService } from '../../builder/oci/oci-build-service.js';
import { listContainers } from '../../builder/oci/runc.js';
import { buildServiceConformance, fakeHash } from './build-service-conformance.js';

const stateDir = join(tmpdir(), `tsix-oci-test-${process.pid}`);
// A runc root of this file's own: the cleanups here remove every tsix container in it, and the
// machine's root holds other test files' builds running at the same time.
const RUNC = { bin: '/usr/sbin/runc', root: join(stateDir, 'runc') };
const OCI = { stateDir, runcRoot: RUNC.root };

/** Everything of ours a build could leave on the host: runc containers, mounts, bundles, cgroups. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const c of await listContainers(RUNC)) if (c.id.startsWith(`tsix-${process.pid}-`)) found.push(`runc container ${c.id}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(stateDir)) found.push(`mount ${line}`);
  for (const b of await readdir(join(stateDir, 'builds')).catch(() => [])) {
    if (/^tsix-\d+-bundle-\d+$/.test(b)) found.push(...await idleBundleLeftovers(join(stateDir, 'builds', b)));
    else found.push(`bundle ${b}`);
  }
  for (const hier of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    for (const cg of await readdir(join('/sys/fs/cgroup', hier, 'tsix')).catch(() => [] as string[])) {
      if (cg.startsWith(`tsix-${process.pid}-`)) found.push(`cgroup ${hier}/tsix/${cg}`);
    }
  }
  return found;
}

/** An idle bundle (kept for the next build) may hold config.json, runc.log, empty directories
 *  (the next working directory) and, in its store directory, empty mount points made by the
 *  sandbox's root: nothing a build wrote. */
async function idleBundleLeftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir)) {
    if (['store', 'config.json', 'runc.log'].includes(e)) continue;
    if (!(await stat(join(dir, e))).isDirectory() || (await readdir(join(dir, e))).length) found.push(`${dir}/${e}`);
  }
  for (const e of await readdir(join(dir, 'store'))) {
    const st = await stat(join(dir, 'store', e));
    const empty = st.isDirectory() ? (await readdir(join(dir, 'store', e))).length === 0 : st.size === 0;
    if (st.uid !== DEFAULT_HOST_ID_BASE || !empty) found.push(`${dir}/store/${e}`);
  }
  return found;
}

test.before(() => {
  if (!existsSync(RUNC.bin)) throw new Error(`${RUNC.bin} is missing: install the runc package (test/setup/system-packages.sh)`);
  if (process.getuid?.() !== 0) throw new Error('the OCI backend tests must run as root (runc creates namespaces and cgroups)');
});

buildServiceConformance({ name: 'oci', create: () => createOciBuildService(OCI), leftovers });

// ---- OCI-specific behaviour ----

interface Env { dir: string; src: string; logs: string; bb: string; svc: BuildService }
let env: Env;
const STORE = '/nix/store';
const BB = `${fakeHash('oci-busybox')}-busybox`;
const OUT = `${STORE}/${fakeHash('oci-out')}-out`;

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-oci-'));
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  await mkdir(join(src, BB, 'bin'), { recursive: true, mode: 0o755 });
  await copyFile('/bin/busybox', join(src, BB, 'bin/busybox'));
  await mkdir(join(dir, 'logs'));
  env = { dir, src, logs: join(dir, 'logs'), bb: `${STORE}/${BB}/bin/busybox`, svc: await createOciBuildService(OCI) };
});

test.after.always(async () => {
  await env?.svc.close();
  if (env) await rm(env.dir, { recursive: true, force: true });
  await cleanupStale(OCI, true);
  await rm(stateDir, { recursive: true, force: true });
});

function req(script: string, over: Partial<BuildRequest> = {}): BuildRequest {
  return {
    command: env.bb, args: ['sh', '-c', script], env: { out: OUT, HOME: '/homeless-shelter' },
    storeDir: STORE, inputSource: env.src, inputs: [`${STORE}/${BB}`], outputs: [OUT],
    workingDir: '/build', scratchPaths: [], network: false, shell: null, needles: [], ...over,
  };
}

async function run(script: string, over: Partial<BuildRequest> = {}): Promise<{ code: number | null; signal: string | null; log: string; owner: number | null }> {
  const r = await env.svc.build(req(script, over), { logDir: env.logs });
  try {
    const out = r.outputs[0]!.hostPath;
    return { code: r.exitCode, signal: r.signal, log: await readFile(r.logPath, 'utf8'), owner: out === null ? null : (await stat(out)).uid };
  } finally {
    await r.release();
  }
}

test.serial('oci: the root is read-only, the network namespace has only loopback, outputs belong to a mapped uid', async (t) => {
  const r = await run([
    'touch /x 2>&1 || true', 'touch /etc/passwd 2>&1 || true',
    'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "',
    'touch $out',
  ].join('\n'));
  t.is(r.code, 0, r.log);
  t.regex(r.log, /touch: \/x: Read-only file system\ntouch: \/etc\/passwd: Read-only file system\nlo\n$/);
  t.is(r.owner, DEFAULT_HOST_ID_BASE + 1000);
});

test.serial('oci: inputs read from a FUSE mount (allow_other), as the daemon serves the store', async (t) => {
  const img = join(env.dir, 'inputs.sqfs');
  const mnt = join(env.dir, 'fuse');
  await mkdir(mnt);
  execFileSync('mksquashfs', [env.src, img, '-quiet', '-noappend', '-no-progress'], { stdio: 'ignore' });
  execFileSync('squashfuse', ['-o', 'allow_other', img, mnt]);
  try {
    const r = await run(`{ echo x > ${STORE}/${BB}/new; } 2>&1; ${STORE}/${BB}/bin/busybox echo from-fuse > $out; cat $out`, { inputSource: mnt });
    t.is(r.code, 0, r.log);
    t.regex(r.log, /Read-only file system\nfrom-fuse\n$/);
  } finally {
    execFileSync('umount', [mnt]);
  }
});

test.serial('oci: no setuid or setgid files, as in Nix\'s sandbox (seccomp)', async (t) => {
  const r = await run('mkdir $out; touch $out/f; chmod 755 $out/f && echo plain-ok; chmod u+s $out/f 2>&1; chmod g+s $out/f 2>&1; chmod 6755 $out/f 2>&1; stat -c %a $out/f');
  t.is(r.code, 0, r.log);
  t.regex(r.log, /^plain-ok\n(chmod: .*Operation not permitted\n){3}755\n$/);
});

test.serial('oci: the pids limit applies', async (t) => {
  // The shell itself gives up when fork fails.
  const r = await run('i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; touch $out', { limits: { pids: 10 } });
  t.not(r.code, 0, r.log);
  t.regex(r.log, /can't fork: Resource temporarily unavailable/);
});

test.serial('oci: the memory limit applies (the builder is killed by the OOM killer)', async (t) => {
  // The shell holds 200 MB in a variable; the limit is 32 MiB.
  const r = await run('echo start; x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived; touch $out', { limits: { memoryBytes: 32 << 20 } });
  t.is(r.code, null, r.log);
  t.is(r.signal, 'SIGKILL');
  t.is(r.log, 'start\n');
});

test.serial('oci: the cpu limit becomes the cgroup\'s CFS quota', async (t) => {
  const quotas: string[] = [];
  // cgroup v1 (this machine: cpu.cfs_quota_us) or v2 (cpu.max: "<quota> <period>").
  const read = async (): Promise<void> => {
    for (const [dir, file] of [['/sys/fs/cgroup/cpu/tsix', 'cpu.cfs_quota_us'], ['/sys/fs/cgroup/tsix', 'cpu.max']] as const) {
      for (const cg of await readdir(dir).catch(() => [] as string[])) {
        if (cg.startsWith(`tsix-${process.pid}-`)) quotas.push((await readFile(join(dir, cg, file), 'utf8')).trim().split(' ')[0]!);
      }
    }
  };
  // The build waits for a file the test creates in its (host-side) input once the quota is read.
  const go = join(env.src, BB, 'go');
  let reading: Promise<void> | null = null;
  const script = `echo started; until [ -e ${STORE}/${BB}/go ]; do sleep 0.05; done; touch $out`;
  try {
    const r = await env.svc.build(req(script, { limits: { cpus: 0.5 }, timeoutMs: 120_000 }), {
      logDir: env.logs,
      onLog: (l) => { if (l === 'started') reading = read().finally(() => writeFile(go, '')); },
    });
    await reading;
    await r.release();
    t.is(r.exitCode, 0);
  } finally {
    await rm(go, { force: true });
  }
  t.deepEqual(quotas, ['50000']);
});

test.serial('oci: paths in the directories the sandbox provides itself are refused', async (t) => {
  for (const over of [{ workingDir: '/tmp' }, { scratchPaths: ['/proc/x'] }, { storeDir: '/etc/store', inputs: [], outputs: ['/etc/store/x'] }, { scratchPaths: ['/dev'] }]) {
    const err = await t.throwsAsync(env.svc.build(req('touch $out', over), { logDir: env.logs }), undefined, JSON.stringify(over));
    t.is((err as { code?: string }).code, 'E_INVALID_INPUT', JSON.stringify(over));
  }
});

// What a builder sees of who and where it is; compared with Nix's sandbox as is.
const IDENTITY = 'cat /etc/passwd /etc/group /etc/hosts; ls -1 /etc; id; hostname; umask; ulimit -c; ls -1 /proc/self/fd; touch $out';

test.serial('oci: /etc files, ids, groups, hostname, umask, core limit and open fds are those of Nix\'s sandbox', async (t) => {
  const nixExpr = join(env.dir, 'etc.nix');
  await writeFile(nixExpr, `derivation { name = "etc-${process.pid}-${Date.now()}"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "${IDENTITY}" ]; }`);
  const nixEnv = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =' };
  const drv = execFileSync('nix-instantiate', [nixExpr], { env: nixEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  execFileSync('nix-build', ['--option', 'sandbox', 'true', '--option', 'sandbox-paths', '/bin/sh=/bin/busybox', '--no-out-link', drv], { env: nixEnv, stdio: 'ignore' });
  const nixLog = execFileSync('nix-store', ['-l', drv], { env: nixEnv, encoding: 'utf8' });
  const ours = await run(IDENTITY);
  t.is(ours.code, 0, ours.log);
  t.is(ours.log, nixLog);
});

test.serial('oci: cleanupStale removes what a killed process left running', async (t) => {
  const moduleUrl = new URL('../../builder/oci/oci-build-service.js', import.meta.url).href;
  const script = `
    const { createOciBuildService } = await import(${JSON.stringify(moduleUrl)});
    const svc = await createOciBuildService(${JSON.stringify(OCI)});
    await svc.build(${JSON.stringify(req('echo started; sleep 600'))}, { logDir: ${JSON.stringify(env.logs)}, onLog: (l) => console.log(l) });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('started')) resolve(); });
      child.on('exit', (c) => reject(new Error(`child exited early (${c})`)));
    });
    const childIds = async (): Promise<string[]> => (await listContainers(RUNC)).map((c) => c.id).filter((id) => id.startsWith(`tsix-${child.pid}-`));
    t.is((await childIds()).length, 1);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    t.is((await childIds()).length, 1, 'the container outlives its killed owner');
    const removed = await cleanupStale(OCI);
    t.is(removed.length, 2, removed.join(', '));
    t.deepEqual(await childIds(), []);
    t.deepEqual((await readdir(join(stateDir, 'builds'))).filter((n) => n.startsWith(`tsix-${child.pid}-`)), []);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await cleanupStale(OCI);
  }
});

test.serial('oci: a reused bundle shows the next build only its own inputs and a fresh working directory; close removes it', async (t) => {
  const own = join(env.dir, 'reuse-state');
  const svc = await createOciBuildService({ stateDir: own, runcRoot: RUNC.root });
  const extra = `${fakeHash('oci-extra')}-extra`;
  await mkdir(join(env.src, extra), { mode: 0o755 });
  const once = async (script: string, inputs: string[]): Promise<string> => {
    const r = await svc.build(req(script, { inputs }), { logDir: env.logs });
    await r.release();
    t.is(r.exitCode, 0);
    return readFile(r.logPath, 'utf8');
  };
  try {
    const both = [`${STORE}/${BB}`, `${STORE}/${extra}`];
    await once('mkdir ${NIX_STORE:-/nix/store}/junk; touch /build/left; chmod 755 /build; touch $out', both);
    const look = 'ls -a /nix/store; stat -c %a /build; ls -a /build; touch $out';
    t.is(await once(look, [`${STORE}/${BB}`]), `.\n..\n${BB}\n700\n.\n..\n`);
    t.is(await once(look, both), `.\n..\n${[BB, extra].sort().join('\n')}\n700\n.\n..\n`);
    // Many mount points not needed next: the store directory is replaced rather than emptied.
    const many = Array.from({ length: 20 }, (_, i) => `${fakeHash(`oci-many-${i}`)}-many`);
    for (const m of many) await mkdir(join(env.src, m), { mode: 0o755 });
    await once('touch $out', [`${STORE}/${BB}`, ...many.map((m) => `${STORE}/${m}`)]);
    t.is(await once(look, both), `.\n..\n${[BB, extra].sort().join('\n')}\n700\n.\n..\n`);
    await svc.settled();
    t.is((await readdir(join(own, 'builds'))).length, 1, 'one bundle kept for the next build');
  } finally {
    await svc.close();
  }
  t.deepEqual(await readdir(join(own, 'builds')), []);
});
