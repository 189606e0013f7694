// Thin wrapper over the runc command line: the calls the OCI backend makes besides `runc run`.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../store/errors.js';

/** Where runc keeps container state unless told otherwise (`runc --root`). */
export const DEFAULT_RUNC_ROOT = '/run/runc';

export interface Runc {
  /** The runc executable. */
  bin: string;
  /** runc's state directory (`--root`). */
  root: string;
}

export interface RuncContainer { id: string; pid: number; status: string; bundle: string }

/** Runs `runc --root <root> ...args`; resolves with stdout, rejects with runc's stderr in the message. */
export function runc(r: Runc, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(r.bin, ['--root', r.root, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`runc ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** Fails with ConfigError when the runc executable cannot be run. */
export async function checkRunc(r: Runc): Promise<string> {
  try {
    return (await runc(r, ['--version'])).split('\n')[0]!;
  } catch (e) {
    throw new ConfigError(`cannot run runc at ${r.bin} (install the runc package): ${(e as Error).message}`, { runc: r.bin });
  }
}

export async function listContainers(r: Runc): Promise<RuncContainer[]> {
  // `runc list` fails when a container's state directory vanishes while it reads them (another
  // process's build ending at that moment): try again.
  for (let attempt = 1; ; attempt++) {
    try {
      const out = JSON.parse(await runc(r, ['list', '--format', 'json'])) as RuncContainer[] | null;
      return out ?? [];
    } catch (err) {
      if (attempt >= 5 || !/no such file or directory/i.test((err as Error).message)) throw err;
      await new Promise((res) => setTimeout(res, 20 * attempt));
    }
  }
}

/** Whether runc still holds state for `id` (cheaper than `runc state`: no process is started;
 *  one stat, made synchronously rather than waiting for a turn in the thread pool). */
export function hasState(r: Runc, id: string): boolean {
  return existsSync(join(r.root, id));
}

/** Kills the container's processes and removes its state; quiet when it is already gone. */
export async function forceDelete(r: Runc, id: string): Promise<void> {
  await runc(r, ['delete', '--force', id]);
}

/** Sends SIGKILL to the container; false when runc does not know it (yet, or any more). */
export async function killContainer(r: Runc, id: string): Promise<boolean> {
  try {
    await runc(r, ['kill', id, 'KILL']);
    return true;
  } catch {
    return false;
  }
}
