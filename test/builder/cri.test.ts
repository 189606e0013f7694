// The CRI backend against a real containerd (test/setup/cri-up.sh starts a private one; test/ci.sh
// runs it around the suite): the BuildService conformance suite, then what is specific to CRI.
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildRequest, BuildService } from '../../builder/build-service.js';
import { cleanupStalePods, createCriBuildService } from '../../builder/cri/cri-build-service.js';
import { CriClient } from '../../builder/cri/cri-client.js';
import { LABEL_BUILD, LABEL_OWNER } from '../../builder/cri/pod-config.js';
import { openBuilder } from '../../builder/open-builder.js';
import { buildServiceConformance, fakeHash } from './build-service-conformance.js';

const CRI_DIR = process.env.TSIX_CRI_DIR ?? '/tmp/tsix-cri';
const SOCKET = join(CRI_DIR, 'containerd.sock');
const stateDir = join(tmpdir(), `tsix-cri-test-${process.pid}`);
const URL_ = `cri+unix://${SOCKET}?state=${encodeURIComponent(stateDir)}`;
const client = new CriClient(SOCKET);

test.before(async () => {
  if (process.getuid?.() !== 0) throw new Error('the CRI backend tests must run as root (containerd and its bind sources)');
  try {
    await client.version(2000);
  } catch (e) {
    throw new Error(`containerd (CRI) is not up at ${SOCKET}: start it with test/setup/cri-up.sh (test/ci.sh does) — ${(e as Error).message}`);
  }
});

test.after.always(async () => {
  // Only this process's pods: other processes may be building on the same runtime.
  const mine = await client.listPodSandboxes({ [LABEL_BUILD]: '1', [LABEL_OWNER]: String(process.pid) }).catch(() => []);
  for (const p of mine) await client.removePodSandbox(p.id).catch(() => undefined);
  client.close();
  await rm(stateDir, { recursive: true, force: true });
});

/** Pods and containers of `pid` in the runtime. */
async function podsOf(pid: number): Promise<string[]> {
  const sel = { [LABEL_BUILD]: '1', [LABEL_OWNER]: String(pid) };
  const pods = (await client.listPodSandboxes(sel)).map((p) => `pod ${p.metadata?.name} ${p.id}`);
  const ctrs = (await client.listContainers(sel)).map((c) => `container ${c.id}`);
  return [...pods, ...ctrs];
}

/** Ids of the build pods and containers other processes have in the runtime. */
async function othersIds(): Promise<Set<string>> {
  const all = { [LABEL_BUILD]: '1' };
  const mine = { ...all, [LABEL_OWNER]: String(process.pid) };
  const ids = async (labels: Record<string, string>) => [
    ...(await client.listPodSandboxes(labels)).map((p) => p.id),
    ...(await client.listContainers(labels)).map((c) => c.id),
  ];
  const ours = new Set(await ids(mine));
  return new Set((await ids(all)).filter((id) => !ours.has(id)));
}

/** Everything of ours a build could leave: pods, containers, mounts, build directories, cgroups. */
async function leftovers(): Promise<string[]> {
  await env?.svc.settled(); // released builds' pods and files go in the background
  const found = await podsOf(process.pid);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(stateDir)) found.push(`mount ${line}`);
  for (const b of await readdir(join(stateDir, 'builds')).catch(() => [])) found.push(`build directory ${b}`);
  // Other test processes build on the same runtime at the same time: their pods' and containers'
  // cgroups (named by id) and their pids parents (named tsix-<pid>-…) are not ours to count. Their
  // pods are listed before and after the cgroups are: one started in between is in the second list.
  const before = await othersIds();
  const candidates: string[] = [];
  for (const hier of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    for (const cg of await readdir(join('/sys/fs/cgroup', hier, 'tsix-cri')).catch(() => [] as string[])) {
      if (before.has(cg) || (/^tsix-\d+-/.test(cg) && !cg.startsWith(`tsix-${process.pid}-`))) continue;
      candidates.push(join(hier, 'tsix-cri', cg));
    }
  }
  // A pod another process has just removed may keep its cgroups a moment longer: what is ours
  // (leaked) stays, theirs goes within a few seconds.
  let left = candidates;
  for (let i = 0; i < 50 && left.length; i++) {
    const after = await othersIds();
    left = left.filter((c) => !after.has(c.slice(c.lastIndexOf('/') + 1)) && existsSync(join('/sys/fs/cgroup', c, 'cgroup.procs')));
    if (left.length) await new Promise((r) => setTimeout(r, 100));
  }
  for (const c of left) found.push(`cgroup ${c}`);
  return found;
}

// containerd's CRI always sets HOSTNAME in a container's environment.
buildServiceConformance({ name: 'cri', create: () => createCriBuildService(URL_), leftovers, extraEnv: ['HOSTNAME'] });

// ---- CRI-specific behaviour ----

interface Env { dir: string; src: string; logs: string; svc: BuildService }
let env: Env;
const STORE = '/nix/store';
const BB = `${fakeHash('cri-busybox')}-busybox`;
const OUT = `${STORE}/${fakeHash('cri-out')}-out`;

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-cri-'));
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  await mkdir(join(src, BB, 'bin'), { recursive: true, mode: 0o755 });
  await copyFile('/bin/busybox', join(src, BB, 'bin/busybox'));
  await mkdir(join(dir, 'logs'));
  // Without containerd the service cannot be created: the directory must not outlive the failure.
  const svc = await createCriBuildService(URL_).catch(async (e: unknown) => { await rm(dir, { recursive: true, force: true }); throw e; });
  env = { dir, src, logs: join(dir, 'logs'), svc };
});

test.after.always(async () => {
  await env?.svc.close();
  if (env) await rm(env.dir, { recursive: true, force: true });
});

function req(script: string, over: Partial<BuildRequest> = {}): BuildRequest {
  return {
    command: `${STORE}/${BB}/bin/busybox`, args: ['sh', '-c', script], env: { out: OUT, HOME: '/homeless-shelter' },
    storeDir: STORE, inputSource: env.src, inputs: [`${STORE}/${BB}`], outputs: [OUT],
    workingDir: '/build', scratchPaths: [], network: false, shell: null, needles: [], ...over,
  };
}

async function run(svc: BuildService, script: string, over: Partial<BuildRequest> = {}): Promise<{ code: number | null; signal: string | null; timedOut: boolean; log: string }> {
  const r = await svc.build(req(script, over), { logDir: env.logs });
  try {
    return { code: r.exitCode, signal: r.signal, timedOut: r.timedOut, log: await readFile(r.logPath, 'utf8') };
  } finally {
    await r.release();
  }
}

test.serial('cri: the root is read-only, the pod network has only loopback and no route', async (t) => {
  const r = await run(env.svc, [
    'touch /x 2>&1 || true', 'touch /etc/passwd 2>&1 || true',
    'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "',
    'ip route 2>/dev/null | wc -l',
    'touch $out',
  ].join('\n'));
  t.is(r.code, 0, r.log);
  t.regex(r.log, /touch: \/x: Read-only file system\ntouch: \/etc\/passwd: Read-only file system\nlo\n0\n$/);
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: a build exiting non-zero is reported with its code, and nothing is left', async (t) => {
  const r = await run(env.svc, 'echo failing >&2; exit 42');
  t.is(r.code, 42);
  t.is(r.signal, null);
  t.false(r.timedOut);
  t.is(r.log, 'failing\n');
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: a build killed by its time limit reports timedOut and SIGKILL, and nothing is left', async (t) => {
  const r = await run(env.svc, 'echo started; sleep 600', { timeoutMs: 500 });
  t.true(r.timedOut);
  t.is(r.code, null);
  t.is(r.signal, 'SIGKILL');
  t.is(r.log, 'started\n');
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: long lines (split by the runtime into partial records) and a last line without newline come back exactly', async (t) => {
  const r = await run(env.svc, 'head -c 40000 /dev/zero | tr "\\0" a; echo; printf "no newline at the end"; touch $out');
  t.is(r.code, 0);
  const want = `${'a'.repeat(40000)}\nno newline at the end`;
  t.true(r.log === want, `log of ${r.log.length} bytes ending ${JSON.stringify(r.log.slice(-30))}`);
});

test.serial('cri: no setuid or setgid files (Nix\'s seccomp filter)', async (t) => {
  const r = await run(env.svc, 'mkdir $out; touch $out/f; chmod 755 $out/f && echo plain-ok; chmod u+s $out/f 2>&1; chmod g+s $out/f 2>&1; stat -c %a $out/f');
  t.is(r.code, 0, r.log);
  t.regex(r.log, /^plain-ok\n(chmod: .*Operation not permitted\n){2}755\n$/);
});

test.serial('cri: the memory limit applies (the builder is killed by the OOM killer)', async (t) => {
  // The shell holds 200 MB in a variable; the limit is 32 MiB.
  const r = await run(env.svc, 'echo start; x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived; touch $out', { limits: { memoryBytes: 32 << 20 } });
  t.is(r.code, null, r.log);
  t.is(r.signal, 'SIGKILL');
  t.is(r.log, 'start\n');
});

test.serial('cri: the pids limit applies (a cgroup parent of the build\'s own), and its cgroup is removed', async (t) => {
  // The shell itself gives up when fork fails.
  const r = await run(env.svc, 'i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; touch $out', { limits: { pids: 10 } });
  t.not(r.code, 0, r.log);
  t.regex(r.log, /can't fork: Resource temporarily unavailable/);
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: a missing image is a setup error naming it', async (t) => {
  const svc = await createCriBuildService(`${URL_}&image=localhost/no-such-image:1`);
  try {
    const err = await t.throwsAsync(svc.build(req('touch $out'), { logDir: env.logs }));
    t.is((err as { code?: string }).code, 'E_BUILD_SETUP');
    t.regex(err!.message, /no image localhost\/no-such-image:1/);
  } finally {
    await svc.close();
  }
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: a runtime that is not running is a clear error, at once', async (t) => {
  const dead = join(env.dir, 'no-containerd.sock');
  const err = await t.throwsAsync(createCriBuildService(`cri+unix://${dead}?state=${encodeURIComponent(stateDir)}`));
  t.is((err as { code?: string }).code, 'E_CONFIG');
  t.true(err!.message.includes(`${dead} is not answering`), err!.message);
  const err2 = await t.throwsAsync(cleanupStalePods(`cri+unix://${dead}`));
  t.is((err2 as { code?: string }).code, 'E_CONFIG');
});

test.serial('cri: a socket that accepts connections but never answers is an error within the deadline, not a hang', async (t) => {
  const path = join(env.dir, 'silent.sock');
  const sockets: Socket[] = [];
  const server = createServer((s) => { sockets.push(s); });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const err = await t.throwsAsync(createCriBuildService(`cri+unix://${path}?state=${encodeURIComponent(stateDir)}`));
    t.is((err as { code?: string }).code, 'E_CONFIG');
    t.true(err!.message.includes(`${path} is not answering`), err!.message);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test.serial('cri: unusable URLs are refused naming the problem', async (t) => {
  for (const [url, re] of [
    ['cri+unix://host/x.sock', /not a host/], ['cri+unix:///x.sock?colour=red', /unknown option 'colour'/],
    ['cri+unix:///x.sock?state=relative', /absolute/], ['cri+unix:///', /socket path is missing/],
  ] as const) {
    const err = await t.throwsAsync(createCriBuildService(url), undefined, url);
    t.is((err as { code?: string }).code, 'E_CONFIG', url);
    t.regex(err!.message, re, url);
  }
});

test.serial('cri: cleanupStalePods removes the pod of a daemon killed mid-build', async (t) => {
  const moduleUrl = new URL('../../builder/cri/cri-build-service.js', import.meta.url).href;
  const script = `
    const { createCriBuildService } = await import(${JSON.stringify(moduleUrl)});
    const svc = await createCriBuildService(${JSON.stringify(URL_)});
    await svc.build(${JSON.stringify(req('echo started; sleep 600'))}, { logDir: ${JSON.stringify(env.logs)}, onLog: (l) => console.log(l) });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('started')) resolve(); });
      child.on('exit', (c) => reject(new Error(`child exited early (${c})`)));
    });
    t.is((await podsOf(child.pid!)).length, 2, 'one pod and one container');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    t.is((await podsOf(child.pid!)).length, 2, 'the pod outlives its killed owner');
    // Other dead processes' leftovers may go too; the child's are its pod and its build directory.
    const removed = (await cleanupStalePods(URL_)).filter((n) => n.startsWith(`tsix-${child.pid}-`));
    t.is(removed.length, 2, `the pod and its build directory: ${removed.join(', ')}`);
    t.deepEqual(await podsOf(child.pid!), []);
    t.deepEqual(await readdir(join(stateDir, 'builds')), []);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await cleanupStalePods(URL_);
  }
});

test.serial('cri: setup leaves no process, mount or cgroup of a finished build behind on the host', async (t) => {
  // The sandbox's processes run as uid 1000 on the host (CRI has no user namespace here).
  const r = await run(env.svc, 'touch $out');
  t.is(r.code, 0);
  const ps = spawnSync('ps', ['-u', '1000', '-o', 'pid=,comm='], { encoding: 'utf8' }).stdout.trim();
  t.is(ps, '', 'no process of the sandbox user');
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: inputs read from a FUSE mount (allow_other), as the daemon serves the store', async (t) => {
  const img = join(env.dir, 'inputs.sqfs');
  const mnt = join(env.dir, 'fuse');
  await mkdir(mnt);
  execFileSync('mksquashfs', [env.src, img, '-quiet', '-noappend', '-no-progress'], { stdio: 'ignore' });
  execFileSync('squashfuse', ['-o', 'allow_other', img, mnt]);
  try {
    const r = await run(env.svc, `{ echo x > ${STORE}/${BB}/new; } 2>&1; ${STORE}/${BB}/bin/busybox echo from-fuse > $out; cat $out`, { inputSource: mnt });
    t.is(r.code, 0, r.log);
    t.regex(r.log, /Read-only file system\nfrom-fuse\n$/);
  } finally {
    execFileSync('umount', [mnt]);
  }
  t.deepEqual(await leftovers(), []);
});

test.serial('cri: openBuilder opens the CRI backend for a cri+unix:// URL', async (t) => {
  const svc = await openBuilder(URL_);
  try {
    const r = await svc.build(req('echo via-open-builder > $out'), { logDir: env.logs });
    t.is(r.exitCode, 0);
    t.is(await readFile(r.outputs[0]!.hostPath!, 'utf8'), 'via-open-builder\n');
    await r.release();
  } finally {
    await svc.close();
  }
});

test.serial('cri: with prewarm=1 builds run in pods started ahead, and close() removes the waiting one', async (t) => {
  const svc = await createCriBuildService(`${URL_}&prewarm=1`);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await svc.build(req(`echo build-${i} > $out`), { logDir: env.logs });
      t.is(await readFile(r.outputs[0]!.hostPath!, 'utf8'), `build-${i}\n`);
      await r.release();
      await svc.settled();
      // Only the pod waiting for the next build remains, without any container.
      t.is((await client.listContainers({ [LABEL_BUILD]: '1', [LABEL_OWNER]: String(process.pid) })).length, 0);
      t.true((await client.listPodSandboxes({ [LABEL_BUILD]: '1', [LABEL_OWNER]: String(process.pid) })).length <= 1);
    }
    // A build with network cannot use the waiting pod and gets its own.
    const r = await svc.build(req('echo net > $out', { network: true }), { logDir: env.logs });
    t.is(r.exitCode, 0);
    await r.release();
  } finally {
    await svc.close();
  }
  t.deepEqual(await leftovers(), []);
});
