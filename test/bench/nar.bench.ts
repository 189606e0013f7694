// NAR throughput: tsix's dumpNar (castore → NAR), importNar (NAR → castore) and dumpPathNar
// (filesystem → NAR) against `nix-store --dump` / `nix-store --restore` on the same ~200 MiB tree.
// Usage: node <build>/test/bench/nar.bench.js [MiB]  (TSIX_BENCH_RUNS=n, default 5; prints medians,
// MB/s and ratios; no pass/fail). The machine's other load shows in the figures: compare ratios.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../store/open-store.js';
import type { Store } from '../../store/store.js';
import { dumpNar } from '../../store/nix/nar-dump.js';
import { dumpPathNar } from '../../store/nix/nar-from-fs.js';
import { importNar } from '../../store/nix/nar-import.js';

const NIX_ENV = { ...process.env, NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =' };
const RUNS = Number(process.env.TSIX_BENCH_RUNS ?? 5);

/** Half the bytes in a few big files, half in many small files spread over nested directories. */
async function makeTree(root: string, totalMiB: number): Promise<{ files: number }> {
  let files = 0;
  await mkdir(root);
  const big = (totalMiB / 2) * 1024 * 1024;
  for (let i = 0; i < 4; i++) { await writeFile(join(root, `big-${i}.bin`), randomBytes(Math.floor(big / 4))); files++; }
  let left = big;
  const text = randomBytes(1 << 20).toString('base64'); // compressible-ish, like sources
  for (let d = 0; left > 0; d++) {
    const dir = join(root, `pkg-${d % 50}`, `sub-${d}`);
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 40 && left > 0; f++) {
      const size = Math.min(left, 256 + Math.floor(Math.random() * 16384));
      const off = Math.floor(Math.random() * (text.length - size));
      await writeFile(join(dir, `file-${f}.txt`), text.slice(off, off + size));
      left -= size;
      files++;
    }
    await symlink(`file-0.txt`, join(dir, 'link'));
  }
  return { files };
}

function timeCommand(cmd: string, args: string[], input?: Buffer): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: NIX_ENV, stdio: ['pipe', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => { bytes += d.length; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes: input ? input.length : bytes }) : reject(new Error(`${cmd} exited ${code}`))));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

async function timeIt(fn: () => Promise<number>): Promise<{ ms: number; bytes: number }> {
  const t0 = process.hrtime.bigint();
  const bytes = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes };
}

async function drain(src: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const b of src) n += b.length;
  return n;
}

async function* pieces(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function best(label: string, run: () => Promise<{ ms: number; bytes: number }>): Promise<number> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) { const r = await run(); times.push(r.ms); bytes = r.bytes; }
  const ms = median(times);
  console.log(`${label.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms  ${(bytes / 1e6 / (ms / 1000)).toFixed(0).padStart(6)} MB/s`);
  return ms;
}

async function main(): Promise<void> {
  const totalMiB = Number(process.argv[2] ?? 200);
  const work = await mkdtemp(join(tmpdir(), 'tsix-nar-bench-'));
  const stores: Store[] = [];
  try {
    const tree = join(work, 'tree');
    const { files } = await makeTree(tree, totalMiB);
    const nar = await new Promise<Buffer>((resolve, reject) => {
      const c = spawn('nix-store', ['--dump', tree], { env: NIX_ENV, stdio: ['ignore', 'pipe', 'inherit'] });
      const out: Buffer[] = [];
      c.stdout.on('data', (d: Buffer) => out.push(d));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`nix-store --dump exited ${code}`))));
    });
    console.log(`tree: ${files} files, NAR ${(nar.length / 1048576).toFixed(1)} MiB; median of ${RUNS} runs\n`);

    const nixDump = await best('nix-store --dump (to a pipe)', () => timeCommand('nix-store', ['--dump', tree]));
    let restoreN = 0;
    const nixRestore = await best('nix-store --restore (from a pipe)', () => timeCommand('nix-store', ['--restore', join(work, `r${restoreN++}`)], nar));
    const fromFs = await best('tsix dumpPathNar (filesystem → NAR)', () => timeIt(() => drain(dumpPathNar(tree))));
    const fromFsAsync = await best('tsix dumpPathNar (blocking: false)', () => timeIt(() => drain(dumpPathNar(tree, { blocking: false }))));

    const ratios: [string, number, number][] = [
      ['dumpPathNar / nix-store --dump', fromFs, nixDump],
      ['dumpPathNar(blocking: false) / nix-store --dump', fromFsAsync, nixDump],
    ];
    for (const url of ['memory://', `level://${join(work, 'level')}`]) {
      const store = await openStore(url, { direct: true });
      stores.push(store);
      let node = null as Awaited<ReturnType<typeof importNar>>['node'] | null;
      const imp = await best(`tsix importNar → ${url.split(':')[0]} (64 KiB pieces)`, () => timeIt(async () => {
        const r = await importNar(pieces(nar, 65536), store);
        node = r.node;
        return r.narSize;
      }));
      const dump = await best(`tsix dumpNar ← ${url.split(':')[0]}`, () => timeIt(() => drain(dumpNar(store, node!))));
      ratios.push([`importNar(${url.split(':')[0]}) / nix-store --restore`, imp, nixRestore]);
      ratios.push([`importNar(${url.split(':')[0]}) / nix-store --dump`, imp, nixDump]);
      ratios.push([`dumpNar(${url.split(':')[0]}) / nix-store --dump`, dump, nixDump]);
    }
    console.log('\ntime ratios (tsix / Nix; below 1 means tsix is faster):');
    for (const [label, a, b] of ratios) console.log(`  ${label.padEnd(44)} ${(a / b).toFixed(2)}`);
  } finally {
    for (const s of stores) await s.close();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
