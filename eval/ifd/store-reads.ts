// Reads of store paths during evaluation (import-from-derivation). Every builtin that touches the
// filesystem passes its path through hostPathOf first: a path inside the store dir is realised
// (built or substituted by whoever installed the resolver) and read through a mount of the tsix
// store, never from this machine's own /nix/store, which belongs to another Nix.
import { existsSync } from 'node:fs';
import { NixEvalError } from '../errors.js';

export const STORE_DIR = '/nix/store';

/**
 * Makes a store path (`/nix/store/<hash>-<name>`, no subpath) readable and returns the host
 * directory entry that holds it. Throws an evaluation error when producing it fails (a build
 * error, or IFD refused); returns a path that does not exist when nobody can produce it.
 */
export type StorePathResolver = (storePath: string) => string;

let resolver: StorePathResolver | null = null;
const resolved = new Map<string, string>();

/** Where store paths are read when no store is connected: nowhere (they read as missing). */
const NOWHERE = '/nonexistent/tsix-evaluation-without-a-store';

/** Installs (or with null removes) the resolver of this thread's evaluations. */
export function setStorePathResolver(r: StorePathResolver | null): void {
  resolver = r;
  resolved.clear();
}

/** The store path (`/nix/store/<hash>-<name>`) a path lies in, or null if outside the store. */
export function storePathOf(path: string): string | null {
  if (!path.startsWith(STORE_DIR + '/')) return null;
  const slash = path.indexOf('/', STORE_DIR.length + 1);
  const sp = slash < 0 ? path : path.slice(0, slash);
  return sp.length > STORE_DIR.length + 1 ? sp : null;
}

/**
 * The host path to read for `path` (an absolute, canonical path as the evaluator has it). Paths
 * outside the store come back unchanged; a store path is realised once per evaluation.
 */
export function hostPathOf(path: string): string {
  const sp = storePathOf(path);
  if (sp === null) return path;
  let root = resolved.get(sp);
  if (root === undefined) {
    root = resolver === null ? NOWHERE + sp.slice(STORE_DIR.length) : resolver(sp);
    // Only a readable path is final: one nobody could produce may be instantiated later on.
    if (existsSync(root)) resolved.set(sp, root);
  }
  return root + path.slice(sp.length);
}

let ifdAllowed = true;

/** Whether this thread's evaluations may build during evaluation (allow-import-from-derivation). */
export function setIfdAllowed(allowed: boolean): void {
  ifdAllowed = allowed;
}

/**
 * Nix's realiseContext check before a read: with IFD disabled, a path whose string context names
 * a derivation output is refused, built or not (Nix names the first such derivation in its
 * sorted context set).
 */
export function checkReadContext(context: Iterable<string>): void {
  if (ifdAllowed) return;
  const outputs = [...context].filter((c) => c.startsWith('!')).sort();
  if (outputs.length === 0) return;
  const first = outputs[0]!;
  const drv = first.slice(first.indexOf('!', 1) + 1);
  throw new StoreReadError(`cannot build '${drv}' during evaluation because the option 'allow-import-from-derivation' is disabled`, 'E_EVAL');
}

/** An error from realising a store path, carried into the evaluation with its own code. */
export class StoreReadError extends NixEvalError {
  constructor(message: string, code: string) {
    super(message, null, code);
  }
}

/** Whether a host path lies in a store path this thread has read through a mount. */
export function isInMountedStorePath(hostPath: string): boolean {
  for (const root of resolved.values()) if (hostPath === root || hostPath.startsWith(root + '/')) return true;
  return false;
}
