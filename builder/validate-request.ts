// Checks a BuildRequest before any backend touches the host: every path a sandbox mounts comes
// from here, so a malformed one must be refused with a message naming it, not mounted.
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { InvalidInputError } from '../store/errors.js';
import { BuildSetupError, type BuildRequest } from './build-service.js';

const WHAT = 'build request';

function fail(message: string, data: Record<string, unknown> = {}): never {
  throw new InvalidInputError(WHAT, message, data);
}

function checkAbsolute(field: string, p: string): void {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) fail(`${field} must be an absolute path, got ${JSON.stringify(p)}`, { field });
  if (p !== '/' && (p.endsWith('/') || posix.normalize(p) !== p)) fail(`${field} must be a normalised path (no '.', '..', '//' or trailing '/'), got ${JSON.stringify(p)}`, { field });
}

/** The basename of a store path, after checking that it lies directly in storeDir. */
export function storeBasename(req: Pick<BuildRequest, 'storeDir'>, field: string, p: string): string {
  checkAbsolute(field, p);
  if (posix.dirname(p) !== req.storeDir) fail(`${field} ${JSON.stringify(p)} is not directly inside the store directory ${req.storeDir}`, { field, path: p });
  return posix.basename(p);
}

function isInside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : dir + '/');
}

/** Throws InvalidInputError naming the first thing wrong with `req`. */
export function validateBuildRequest(req: BuildRequest): void {
  checkAbsolute('command', req.command);
  if (!Array.isArray(req.args) || req.args.some((a) => typeof a !== 'string' || a.includes('\0'))) fail('args must be strings without NUL bytes');
  for (const [k, v] of Object.entries(req.env ?? fail('env is missing'))) {
    if (k === '' || k.includes('=') || k.includes('\0')) fail(`environment variable name ${JSON.stringify(k)} is empty or holds '=' or NUL`, { name: k });
    if (typeof v !== 'string' || v.includes('\0')) fail(`environment variable ${k} must be a string without NUL bytes`, { name: k });
  }
  checkAbsolute('storeDir', req.storeDir);
  if (req.storeDir === '/') fail('storeDir must not be /');
  checkAbsolute('inputSource', req.inputSource);
  checkAbsolute('workingDir', req.workingDir);
  if (req.workingDir === '/' || isInside(req.workingDir, req.storeDir) || isInside(req.storeDir, req.workingDir)) fail(`workingDir ${req.workingDir} must not be /, nor inside or around the store directory`);
  const seen = new Set<string>();
  for (const [field, list] of [['inputs', req.inputs], ['outputs', req.outputs]] as const) {
    for (const p of list) {
      storeBasename(req, field, p);
      if (seen.has(p)) fail(`${p} is listed twice in inputs/outputs`, { path: p });
      seen.add(p);
    }
  }
  if (req.outputs.length === 0) fail('outputs must not be empty');
  for (const s of req.scratchPaths) {
    checkAbsolute('scratchPaths', s);
    if (s === '/' || isInside(s, req.storeDir) || isInside(req.storeDir, s) || isInside(req.workingDir, s)) fail(`scratch path ${s} must not be /, overlap the store directory or contain the working directory`, { path: s });
  }
  for (const f of req.workingDirFiles ?? []) {
    if (!f.name || f.name === '.' || f.name === '..' || f.name.includes('/') || f.name.includes('\0')) fail(`working directory file name ${JSON.stringify(f.name)} must be a plain file name`, { name: f.name });
  }
  if (req.shell !== null) checkAbsolute('shell', req.shell);
  if (req.timeoutMs !== undefined && !(Number.isFinite(req.timeoutMs) && req.timeoutMs > 0)) fail(`timeoutMs must be a positive number, got ${req.timeoutMs}`);
  const l = req.limits ?? {};
  for (const k of ['memoryBytes', 'cpus', 'pids'] as const) {
    const v = l[k];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) fail(`limits.${k} must be a positive number, got ${v}`);
  }
  if (!Array.isArray(req.needles) || req.needles.some((n) => typeof n !== 'string' || n.length === 0)) fail('needles must be non-empty strings');
}

/**
 * Fails with BuildSetupError naming the first input (or the shell) missing on the host. The
 * runtimes would fail too, but with a mount error that does not say which input it was (and
 * containerd would quietly create a missing one as an empty directory). All inputs are checked
 * at once: a deep closure has hundreds, each an lstat through the FUSE mount.
 */
export async function checkHostPaths(req: BuildRequest, id: string): Promise<void> {
  await Promise.all(req.inputs.map((p) => {
    const host = join(req.inputSource, storeBasename(req, 'inputs', p));
    return lstat(host).catch(() => { throw new BuildSetupError(`input ${p} is not available at ${host}`, { id, path: p }); });
  }));
  if (req.shell !== null) await lstat(req.shell).catch(() => { throw new BuildSetupError(`the shell ${req.shell} does not exist on the host`, { id }); });
}
