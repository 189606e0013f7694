// FUSE mount benchmark: the same data (one big random file; many 4 KiB files in 100 dirs) read
// through the tsix mount, through squashfuse_ll of a mksquashfs image, and from local disk.
//   node <build>/test/bench/fs.bench.js        (as root: drops caches, mounts)
//   BENCH_BIG_MB=1024 BENCH_SMALL_FILES=10000 BENCH_RUNS=3 override the sizes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { launchDaemon, type DaemonProcess } from '../daemon/daemon-harness.js';
import { CLI } from '../helpers/cli.js';
import { median, report } from './bench-util.js';

const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 1024);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 10000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DIRS = 100;

function sh(cmd: string): string {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return r.stdout;
}

function dropCaches(): void {
  sh('sync; echo 3 > /proc/sys/vm/drop_caches');
}

function makeData(src: string): void {
  mkdirSync(join(src, 'big'), { recursive: true });
  const fd = openSync(join(src, 'big', 'big.bin'), 'w');
  for (let i = 0; i < BIG_MB; i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
  for (let d = 0; d < DIRS; d++) {
    const dir = join(src, 'small', `d${String(d).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let f = d; f < SMALL_FILES; f += DIRS) writeFileSync(join(dir, `f${String(f).padStart(5, '0')}`), randomBytes(4096));
  }
}

/** Wall-clock ms of a shell command, run asynchronously so that Ctrl-C can still clean up. */
function timeCmd(cmd: string): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const p = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (code) => (code === 0 ? res(Number(process.hrtime.bigint() - t0) / 1e6) : rej(new Error(`benchmark command failed (${code}): ${cmd}\n${err}`))));
  });
}

/** Median wall time of `cmd` over RUNS runs, caches dropped before each run if `cold`. */
async function time(cmd: string, cold: boolean): Promise<number> {
  const ms: number[] = [];
  if (!cold) await timeCmd(cmd); // warm-up
  for (let i = 0; i < RUNS; i++) {
    if (cold) dropCaches();
    ms.push(await timeCmd(cmd));
  }
  return median(ms);
}

async function mountSquash(image: string, mnt: string): Promise<ChildProcess> {
  mkdirSync(mnt, { recursive: true });
  const p = spawn('squashfuse_ll', ['-f', image, mnt], { stdio: 'inherit' });
  for (let i = 0; i < 100; i++) {
    if (sh('cat /proc/self/mountinfo').split('\n').some((l) => l.split(' ')[4] === mnt)) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('squashfuse_ll did not mount');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (drops caches, mounts)');
  const work = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'tsix-fs-bench-'));
  let daemon: DaemonProcess | null = null;
  let squash: ChildProcess | null = null;
  const sqMnt = join(work, 'sq');
  const cleanup = async () => {
    await daemon?.kill();
    if (squash) { spawnSync('umount', ['-l', sqMnt]); squash.kill('SIGKILL'); }
    rmSync(work, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { void cleanup().finally(() => process.exit(130)); });
  try {
    const src = join(work, 'src');
    console.log(`data: ${BIG_MB} MiB file, ${SMALL_FILES} × 4 KiB files in ${DIRS} dirs; ${RUNS} runs each (median)`);
    makeData(src);
    const url = `level://${join(work, 'store')}`;
    let t0 = Date.now();
    const added = sh(`node ${CLI} --store ${url} store add ${src}/big ${src}/small`).trim().split('\n');
    console.log(`tsix store add: ${Date.now() - t0} ms`);
    t0 = Date.now();
    sh(`mksquashfs ${src} ${work}/img.sqfs -noappend -quiet -no-progress`);
    console.log(`mksquashfs: ${Date.now() - t0} ms`);
    const mnt = join(work, 'mnt');
    daemon = await launchDaemon(['--store', url], mnt);
    squash = await mountSquash(join(work, 'img.sqfs'), sqMnt);
    const tx = { big: join(mnt, basename(added[0]!)), small: join(mnt, basename(added[1]!)) };
    const sq = { big: join(sqMnt, 'big'), small: join(sqMnt, 'small') };
    const local = { big: join(src, 'big'), small: join(src, 'small') };
    if (!lstatSync(join(tx.big, 'big.bin')).isFile()) throw new Error('big file missing in the mount');
    // Timings of wrong answers mean nothing: check both mounts first.
    for (const d of [tx, sq]) sh(`cmp ${d.big}/big.bin ${local.big}/big.bin && diff -r ${d.small} ${local.small}`);

    const seq = (d: { big: string }) => `dd if=${d.big}/big.bin of=/dev/null bs=1M status=none`;
    const find = (d: { small: string }) => `find ${d.small} -printf '%s %m %i\\n' > /dev/null`;
    const tar = (d: { small: string }) => `tar cf - -C ${d.small} . | cat > /dev/null`;
    // The same 10k paths stat'ed 5 times by one process (no directory listing involved).
    const list = join(work, 'files.txt');
    writeFileSync(list, sh(`cd ${local.small} && find . -type f`));
    const stats = (d: { small: string }) => `cd ${d.small} && ${process.execPath} -e 'const fs = require("fs"); const l = fs.readFileSync(process.argv[1], "utf8").split("\\n").filter(Boolean); for (let i = 0; i < 5; i++) for (const f of l) fs.lstatSync(f)' ${list}`;
    const rows: [string, number, number, string, number][] = [];
    const row = async (label: string, cmd: (d: typeof tx) => string, cold: boolean, refName: string, ref: typeof tx, goal: number) => {
      const a = await time(cmd(tx), cold);
      const b = await time(cmd(ref), cold);
      rows.push([label, a, b, refName, goal]);
      const r = report(label, a, b, refName);
      console.log(`${''.padEnd(38)} goal ≤ ${goal.toFixed(2)} ${r <= goal ? 'met' : 'NOT met'}`);
    };
    await row('cold sequential read (vs squashfuse)', seq, true, 'squashfuse_ll', sq, 1 / 0.8);
    await row('cold sequential read (vs local)', seq, true, 'local', local, Infinity);
    await row('warm sequential read (vs local)', seq, false, 'local', local, 1.2);
    await row('find with stat, cold (vs squashfuse)', find, true, 'squashfuse_ll', sq, Infinity);
    await row('find with stat, warm (vs local)', find, false, 'local', local, 1.2);
    await row(`repeated lstat 5×${SMALL_FILES} (vs local)`, stats, false, 'local', local, 1.2);
    await row('tar small files, cold (vs squashfuse)', tar, true, 'squashfuse_ll', sq, 1.5);
    await row('tar small files, warm (vs squashfuse)', tar, false, 'squashfuse_ll', sq, 1.2);
    await row('tar small files, warm (vs local)', tar, false, 'local', local, Infinity);
    const mbps = (BIG_MB / (rows[0]![1] / 1000)).toFixed(0);
    console.log(`tsix cold sequential read: ${mbps} MiB/s; load average now: ${sh('cat /proc/loadavg').split(' ').slice(0, 3).join(' ')} (timings on a shared machine vary)`);
  } finally {
    await cleanup();
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
