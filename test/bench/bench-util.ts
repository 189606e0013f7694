// Shared benchmark helpers: timing commands in one run and printing ratios.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export interface Timing { name: string; ms: number[] }

/** Runs a shell command and returns wall-clock milliseconds; throws if it fails. */
export function timeShell(cmd: string, opts: SpawnSyncOptions = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`benchmark command failed (${r.status}): ${cmd}\n${r.stderr?.toString()}`);
  return ms;
}

export function best(xs: number[]): number {
  return Math.min(...xs);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}

/** Prints one comparison row: ratio < 1 means tsix is faster. */
export function report(label: string, tsixMs: number, refMs: number, refName: string): number {
  const ratio = tsixMs / refMs;
  console.log(`${label.padEnd(38)} tsix ${tsixMs.toFixed(0).padStart(7)} ms   ${refName} ${refMs.toFixed(0).padStart(7)} ms   ratio ${ratio.toFixed(2)}`);
  return ratio;
}


// What users run and the benchmarks time: the launcher spares Node's start-up the
// NODE_EXTRA_CA_CERTS bundle and starts `tsix eval` from its snapshot.
export { TSIX_BIN } from '../helpers/cli.js';
