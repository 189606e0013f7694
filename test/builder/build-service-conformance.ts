// The one conformance suite of the BuildService interface. A backend's test file calls
// `buildServiceConformance(backend)`; every backend (oci, cri) must pass it unchanged.
// Builds run the busybox from an input store path (no image or host tool is assumed), one at a
// time, and after each one the backend is asked whether anything was left behind.
import test from 'ava';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildOptions, BuildRequest, BuildResult, BuildService } from '../../builder/build-service.js';
import { NIX_BASE32_ALPHABET } from '../../store/nix/base32.js';

export interface ConformanceBackend {
  /** Shown in test titles. */
  name: string;
  /** A fresh service; closed by the suite. */
  create(): Promise<BuildService>;
  /** What a finished and released build left behind (containers, mounts, directories); [] when clean. */
  leftovers(): Promise<string[]>;
  /** Environment variables the backend adds to every build (ideally none). */
  extraEnv?: string[];
}

const BUSYBOX = '/bin/busybox';
const STORE = '/nix/store';

/** A valid, deterministic store path hash part for `seed`. */
export function fakeHash(seed: string): string {
  const d = createHash('sha256').update(seed).digest();
  let s = '';
  for (let i = 0; i < 32; i++) s += NIX_BASE32_ALPHABET[d[i]! % 32];
  return s;
}

interface Fixture {
  dir: string;
  inputSource: string;
  logDir: string;
  busybox: string;
  data: string;
  file: string;
  hidden: string;
}

const H = {
  busybox: fakeHash('busybox'), data: fakeHash('data'), file: fakeHash('file'), hidden: fakeHash('hidden'),
  out: fakeHash('out'), dev: fakeHash('dev'), doc: fakeHash('doc'),
};
const OUT = `${STORE}/${H.out}-out`;
const DEV = `${STORE}/${H.dev}-dev`;
const DOC = `${STORE}/${H.doc}-doc`;

async function makeFixture(): Promise<Fixture> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install busybox-static (test/setup/system-packages.sh)`);
  const dir = await mkdtemp(join(tmpdir(), 'tsix-build-conf-'));
  // The sandbox's unprivileged ids must be able to reach the bind sources.
  await chmod(dir, 0o755);
  const inputSource = join(dir, 'inputs');
  const logDir = join(dir, 'logs');
  const busybox = `${H.busybox}-busybox`;
  const data = `${H.data}-data`;
  const file = `${H.file}-file`;
  const hidden = `${H.hidden}-hidden`;
  await mkdir(join(inputSource, busybox, 'bin'), { recursive: true, mode: 0o755 });
  await copyFile(BUSYBOX, join(inputSource, busybox, 'bin', 'busybox'));
  await chmod(join(inputSource, busybox, 'bin', 'busybox'), 0o555);
  await mkdir(join(inputSource, data), { mode: 0o755 });
  await writeFile(join(inputSource, data, 'f'), 'input data\n', { mode: 0o644 });
  await writeFile(join(inputSource, file), 'a single-file store path\n', { mode: 0o644 });
  await mkdir(join(inputSource, hidden), { mode: 0o755 });
  await writeFile(join(inputSource, hidden, 'secret'), 'not an input\n', { mode: 0o644 });
  await chmod(inputSource, 0o755);
  await mkdir(logDir);
  return { dir, inputSource, logDir, busybox, data, file, hidden };
}

/** Registers the suite's tests for `backend`. */
export function buildServiceConformance(backend: ConformanceBackend): void {
  let fx: Fixture;
  let svc: BuildService;
  const title = (t: string): string => `${backend.name}: ${t}`;

  test.before(async () => {
    fx = await makeFixture();
    svc = await backend.create();
  });
  test.after.always(async () => {
    await svc?.close();
    if (fx) await rm(fx.dir, { recursive: true, force: true });
  });

  const bb = (): string => `${STORE}/${fx.busybox}/bin/busybox`;
  /** A request running `script` with busybox sh; inputs: busybox, data, file. */
  const shReq = (script: string, over: Partial<BuildRequest> = {}): BuildRequest => ({
    command: bb(),
    args: ['sh', '-c', script],
    env: { out: OUT, PATH: '/path-not-set', HOME: '/homeless-shelter' },
    storeDir: STORE,
    inputSource: fx.inputSource,
    inputs: [`${STORE}/${fx.busybox}`, `${STORE}/${fx.data}`, `${STORE}/${fx.file}`],
    outputs: [OUT],
    workingDir: '/build',
    scratchPaths: [],
    network: false,
    shell: null,
    needles: [],
    ...over,
  });
  const opts = (o: Partial<BuildOptions> = {}): BuildOptions => ({ logDir: fx.logDir, ...o });

  /** Runs, hands the result to `check`, releases it and asserts that nothing is left. */
  /** What is left once the clean-up of released builds has finished (release() does not wait for it). */
  async function leftoversOnceSettled(): Promise<string[]> {
    await svc.settled();
    return backend.leftovers();
  }

  async function build(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, req: BuildRequest, check: (r: BuildResult) => Promise<void> | void, o: Partial<BuildOptions> = {}): Promise<void> {
    const r = await svc.build(req, opts(o));
    try {
      await check(r);
    } finally {
      await r.release();
    }
    for (const out of r.outputs) t.deepEqual(out.hostPath === null || !existsSync(out.hostPath), true, `${out.hostPath} removed by release`);
    t.deepEqual(await leftoversOnceSettled(), [], 'nothing left behind');
  }

  const outText = async (r: BuildResult, i = 0): Promise<string> => readFile(r.outputs[i]!.hostPath!, 'utf8');

  test.serial(title('a simple build produces its output and log'), async (t) => {
    const lines: string[] = [];
    await build(t, shReq('echo building; echo hello > $out'), async (r) => {
      t.is(r.exitCode, 0);
      t.is(r.signal, null);
      t.false(r.timedOut);
      t.is(r.outputs.length, 1);
      t.is(r.outputs[0]!.path, OUT);
      t.is(await outText(r), 'hello\n');
      t.deepEqual(r.logTail, ['building']);
      t.is(await readFile(r.logPath, 'utf8'), 'building\n');
      t.is(r.keptWorkingDir, null);
    }, { onLog: (l) => lines.push(l) });
    t.deepEqual(lines, ['building']);
  });

  test.serial(title('multiple outputs, a missing one, and the references found in each'), async (t) => {
    const data = `${STORE}/${fx.data}`;
    const script = [
      `mkdir -p $out/lib $dev`,
      // out: an input's hash in a file's contents, and dev's hash in a nested file.
      `echo "config at ${data}/f" > $out/lib/a`,
      `echo "see $dev" > $out/lib/b`,
      // dev: a symlink whose target is the busybox input, an entry named after doc's hash.
      `ln -s ${bb()} $dev/sh`,
      `echo x > $dev/${H.doc}-name`,
      // doc is not created.
    ].join('\n');
    const needles = [H.busybox, H.data, H.file, H.out, H.dev, H.doc];
    await build(t, shReq(script, { env: { out: OUT, dev: DEV }, outputs: [OUT, DEV, DOC], needles }), (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      t.deepEqual(r.outputs.map((o) => o.path), [OUT, DEV, DOC]);
      t.deepEqual(r.outputs[0]!.references.sort(), [H.data, H.dev].sort());
      t.deepEqual(r.outputs[1]!.references.sort(), [H.busybox, H.doc].sort());
      t.is(r.outputs[2]!.hostPath, null);
      t.deepEqual(r.outputs[2]!.references, []);
    });
  });

  test.serial(title('an output that is a single file or a symlink'), async (t) => {
    await build(t, shReq(`echo ${H.file} > $out; ln -s ${STORE}/${fx.data} $dev`, { env: { out: OUT, dev: DEV }, outputs: [OUT, DEV], needles: [H.file, H.data] }), async (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      t.is(await outText(r), `${H.file}\n`);
      t.deepEqual(r.outputs[0]!.references, [H.file]);
      t.deepEqual(r.outputs[1]!.references, [H.data]);
    });
  });

  test.serial(title('a failing build reports its exit code and the log tail'), async (t) => {
    // Everything on stderr: backends keep each stream's order, not always the order between the two.
    await build(t, shReq('exec >&2; i=0; while [ $i -lt 40 ]; do echo line $i; i=$((i+1)); done; echo "something broke"; exit 3'), async (r) => {
      t.is(r.exitCode, 3);
      t.is(r.signal, null);
      t.false(r.timedOut);
      t.is(r.logTail.at(-1), 'something broke');
      t.is(r.logTail.at(-2), 'line 39');
      t.true(r.logTail.length <= 25 && r.logTail.length >= 10);
      t.regex(await readFile(r.logPath, 'utf8'), /^line 0\n[^]*line 39\nsomething broke\n$/);
    });
  });

  test.serial(title('inputs are read-only, readable, and only the listed ones are visible'), async (t) => {
    const data = `${STORE}/${fx.data}`;
    const script = [
      'exec 2>&1',
      `cat ${data}/f ${STORE}/${fx.file}`,
      `echo x > ${data}/f || echo write-refused`,
      `mkdir ${data}/new || echo mkdir-refused`,
      `rm ${STORE}/${fx.file} || echo rm-refused`,
      `ls ${STORE}/${fx.hidden} || echo hidden-absent`,
      `ls ${STORE} > $out`,
    ].join('\n');
    await build(t, shReq(script), async (r) => {
      const log = await readFile(r.logPath, 'utf8');
      t.is(r.exitCode, 0, log);
      t.regex(log, /^input data\na single-file store path\n/);
      t.regex(log, /can't create .*f: Read-only file system\nwrite-refused\n/);
      t.regex(log, /mkdir-refused/);
      t.regex(log, /rm-refused/);
      t.regex(log, /hidden-absent/);
      t.false(log.includes('not an input'));
      // The store holds the inputs and the output being written, nothing else.
      t.deepEqual((await outText(r)).split('\n').filter(Boolean).sort(), [fx.busybox, fx.data, fx.file, OUT.slice(STORE.length + 1)].sort());
    });
    t.is(await readFile(join(fx.inputSource, fx.data, 'f'), 'utf8'), 'input data\n');
  });

  test.serial(title('host files are not visible'), async (t) => {
    const marker = join(fx.dir, 'host-marker');
    await writeFile(marker, 'host secret\n');
    const script = [
      'cat /etc/hostname || echo no-hostname',
      'ls /root || echo no-root',
      `cat ${marker} || echo no-marker`,
      `ls ${fx.inputSource} || echo no-input-source`,
      'ls /home /var /usr /boot 2>/dev/null | wc -l',
      'touch $out',
    ].join('\n');
    await build(t, shReq(script), async (r) => {
      const log = await readFile(r.logPath, 'utf8');
      t.is(r.exitCode, 0, log);
      for (const w of ['no-hostname', 'no-root', 'no-marker', 'no-input-source']) t.regex(log, new RegExp(`^${w}$`, 'm'));
      t.regex(log, /^0$/m);
      t.false(log.includes('host secret'));
    });
  });

  test.serial(title('the environment arrives exactly as given'), async (t) => {
    const env: Record<string, string> = {
      out: OUT, PATH: '/path-not-set', HOME: '/homeless-shelter', EMPTY: '', SPACES: '  a  b  ',
      NEWLINES: 'one\ntwo\n', EQUALS: 'a=b=c', UNICODE: 'ünïcødé ✓', QUOTES: `'"\`$x\\`, lower_case: 'x',
    };
    // cp's own environment is the one the sandbox gave: no shell in between.
    await build(t, shReq('', { command: bb(), args: ['cp', '/proc/self/environ', OUT], env }), async (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      const got = new Map<string, string>();
      for (const kv of (await outText(r)).split('\0').filter(Boolean)) got.set(kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1));
      for (const k of backend.extraEnv ?? []) got.delete(k);
      t.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries(Object.entries(env).sort()));
    });
  });

  test.serial(title('identity: hostname localhost, uid 1000 gid 100 without capabilities, /build as working directory'), async (t) => {
    const script = [
      'hostname; id -u; id -g; pwd',
      'grep -E "^Cap(Eff|Prm|Inh|Bnd|Amb):" /proc/self/status',
      'ls -A /build | wc -l',
      'echo scratch > /build/w && cat /build/w',
      'echo tmp > /tmp/w && cat /tmp/w',
      'grep -c . /etc/passwd > /dev/null && grep "^nixbld:x:1000:100:" /etc/passwd | cut -d: -f1',
      'touch $out',
    ].join('\n');
    await build(t, shReq(script), async (r) => {
      const lines = (await readFile(r.logPath, 'utf8')).split('\n');
      t.is(r.exitCode, 0, lines.join('\n'));
      t.deepEqual(lines.slice(0, 4), ['localhost', '1000', '100', '/build']);
      const caps = lines.slice(4, 9);
      t.is(caps.length, 5);
      for (const c of caps) t.regex(c, /^Cap\w+:\s+0+$/);
      t.deepEqual(lines.slice(9, 14), ['0', 'scratch', 'tmp', 'nixbld', '']);
    });
  });

  test.serial(title('/bin/sh exists only when asked for'), async (t) => {
    await build(t, shReq('test -e /bin/sh && echo has-sh || echo no-sh; touch $out'), async (r) => {
      t.is(r.exitCode, 0);
      t.deepEqual(r.logTail, ['no-sh']);
    });
    await build(t, shReq('', { command: '/bin/sh', args: ['-c', 'echo via-sh; touch $out'], shell: BUSYBOX }), async (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      t.deepEqual(r.logTail, ['via-sh']);
    });
  });

  test.serial(title('no network unless allowed'), async (t) => {
    const got: string[] = [];
    const server: Server = createServer((s) => s.on('data', (d) => got.push(d.toString().trim())));
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const external = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
      if (!external) throw new Error('this test needs a non-loopback IPv4 address on the host (another network namespace\'s address, seen from the sandbox)');
      const probe = (tag: string): string => [
        `echo ${tag}-lo | nc -w 3 127.0.0.1 ${port} && echo ${tag}-lo-connected || echo ${tag}-lo-failed`,
        `echo ${tag}-ext | nc -w 3 ${external} ${port} && echo ${tag}-ext-connected || echo ${tag}-ext-failed`,
        'touch $out',
      ].join('\n');
      await build(t, shReq(probe('closed')), async (r) => {
        const log = await readFile(r.logPath, 'utf8');
        t.is(r.exitCode, 0, log);
        t.regex(log, /^closed-lo-failed$/m);
        t.regex(log, /^closed-ext-failed$/m);
      });
      await build(t, shReq(probe('open'), { network: true }), async (r) => {
        const log = await readFile(r.logPath, 'utf8');
        t.is(r.exitCode, 0, log);
        t.regex(log, /^open-lo-connected$/m);
        t.regex(log, /^open-ext-connected$/m);
      });
      t.deepEqual(got.sort(), ['open-ext', 'open-lo']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test.serial(title('loopback works inside the sandbox without network (test suites serve on 127.0.0.1)'), async (t) => {
    // Retries instead of sleeping a fixed time: the listener may start late on a busy machine.
    const script = [
      // The listener's stdin never ends: busybox nc stops at EOF on stdin, sometimes before the data arrives.
      '(sleep 60 | nc -l -p 8080 > /build/got &)',
      'for i in $(seq 100); do echo hi-lo | nc -w 2 127.0.0.1 8080 2>/dev/null && break; sleep 0.05; done',
      'for i in $(seq 600); do [ -s /build/got ] && break; sleep 0.05; done',
      'cat /build/got; touch $out',
    ].join('\n');
    await build(t, shReq(script), (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      t.deepEqual(r.logTail, ['hi-lo']);
    });
  });

  test.serial(title('a build that exceeds its time limit is killed and reported'), async (t) => {
    await build(t, shReq('echo started; sleep 600; touch $out', { timeoutMs: 300 }), (r) => {
      t.true(r.timedOut);
      t.not(r.exitCode, 0);
      t.deepEqual(r.logTail, ['started']);
    });
  });

  test.serial(title('aborting kills the build and removes everything'), async (t) => {
    const ac = new AbortController();
    const err = await t.throwsAsync(svc.build(shReq('echo started; sleep 600; touch $out'), opts({
      signal: ac.signal,
      onLog: (l) => { if (l === 'started') ac.abort(); },
    })));
    t.is((err as { code?: string }).code, 'E_ABORTED');
    t.deepEqual(await leftoversOnceSettled(), []);
    const pre = new AbortController();
    pre.abort();
    const err2 = await t.throwsAsync(svc.build(shReq('touch $out'), opts({ signal: pre.signal })));
    t.is((err2 as { code?: string }).code, 'E_ABORTED');
    t.deepEqual(await leftoversOnceSettled(), []);
  });

  test.serial(title('a command that cannot be started is a setup error'), async (t) => {
    const err = await t.throwsAsync(svc.build(shReq('', { command: `${STORE}/${fx.data}/no-such-program` }), opts()));
    t.is((err as { code?: string }).code, 'E_BUILD_SETUP');
    t.deepEqual(await leftoversOnceSettled(), []);
  });

  test.serial(title('an input missing from inputSource is a setup error, not an empty directory'), async (t) => {
    const missing = `${STORE}/${fakeHash('missing')}-missing`;
    const err = await t.throwsAsync(svc.build(shReq('touch $out', { inputs: [`${STORE}/${fx.busybox}`, missing] }), opts()));
    t.is((err as { code?: string }).code, 'E_BUILD_SETUP');
    t.true(err!.message.includes(missing), err!.message);
    t.false(existsSync(join(fx.inputSource, `${fakeHash('missing')}-missing`)), 'nothing created in inputSource');
    t.deepEqual(await leftoversOnceSettled(), []);
  });

  test.serial(title('malformed requests are refused before anything runs'), async (t) => {
    const bad: Partial<BuildRequest>[] = [
      { inputs: ['/elsewhere/abc'] },
      { outputs: [] },
      { outputs: [`${STORE}/${fx.data}`] },
      { command: 'relative/path' },
      { workingDir: '/nix/store/x' },
      { env: { 'A=B': 'x' } },
      { storeDir: '/nix/../nix/store' },
    ];
    for (const b of bad) {
      const err = await t.throwsAsync(svc.build(shReq('touch $out', b), opts()), undefined, JSON.stringify(b));
      t.is((err as { code?: string }).code, 'E_INVALID_INPUT', JSON.stringify(b));
    }
    t.deepEqual(await leftoversOnceSettled(), []);
  });

  test.serial(title('keepFailed keeps the working directory of a failed build'), async (t) => {
    let kept: string | null = null;
    await build(t, shReq('echo partial > /build/state; exit 1'), async (r) => {
      t.is(r.exitCode, 1);
      kept = r.keptWorkingDir;
      t.not(kept, null);
      t.is(await readFile(join(kept!, 'state'), 'utf8'), 'partial\n');
    }, { keepFailed: true });
    t.true(existsSync(kept!), 'kept after release');
    await rm(kept!, { recursive: true, force: true });
  });

  test.serial(title('workingDirFiles are in the working directory, owned by the build'), async (t) => {
    const files = [{ name: '.attr-x', contents: 'text\nfile\n' }, { name: 'bin', contents: Buffer.from([0, 1, 2, 255]) }];
    await build(t, shReq('ls -A; cat .attr-x; od -An -tx1 bin; echo more >> .attr-x && cat .attr-x; stat -c %u bin; touch $out', { workingDirFiles: files }), async (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      t.deepEqual(r.logTail, ['.attr-x', 'bin', 'text', 'file', ' 00 01 02 ff', 'text', 'file', 'more', '1000']);
    });
  });

  test.serial(title('scratch paths are writable empty directories'), async (t) => {
    await build(t, shReq('ls -A /scratch/a | wc -l; echo w > /scratch/a/f && cat /scratch/a/f; echo w > /build/sub/g && cat /build/sub/g; touch $out', { scratchPaths: ['/scratch/a', '/build/sub'] }), async (r) => {
      t.is(r.exitCode, 0, r.logTail.join('\n'));
      t.deepEqual(r.logTail, ['0', 'w', 'w']);
    });
  });

  test.serial(title('two builds run at the same time'), async (t) => {
    const a = svc.build(shReq('sleep 0.2; echo a > $out'), opts());
    const b = svc.build(shReq('sleep 0.2; echo b > $out'), opts());
    const [ra, rb] = await Promise.all([a, b]);
    t.is(await outText(ra), 'a\n');
    t.is(await outText(rb), 'b\n');
    await Promise.all([ra.release(), rb.release()]);
    t.deepEqual(await leftoversOnceSettled(), []);
  });
}
