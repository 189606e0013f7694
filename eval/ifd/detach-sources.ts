// Sources copied from inside a built output (a path value in an imported store file, builtins.path
// of an output) are read through the mount that the main thread serves. The main thread must
// never read its own mount synchronously (it would wait on itself), and the store's ingest reads
// synchronously; so the worker, whose reads the main thread answers, copies such trees out first.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PendingWrites } from '../derivation/session.js';
import { isInMountedStorePath } from './store-reads.js';

export function detachSourcesFromMounts(p: PendingWrites): PendingWrites {
  const sources = p.sources.map(([path, s]): PendingWrites['sources'][number] => {
    if (!isInMountedStorePath(s.fsPath)) return [path, s];
    const dir = mkdtempSync(join(tmpdir(), 'tsix-ifd-source-'));
    p.tmpDirs.push(dir);
    const copy = join(dir, 'src');
    cpSync(s.fsPath, copy, { recursive: true, verbatimSymlinks: true, preserveTimestamps: false });
    return [path, { ...s, fsPath: copy }];
  });
  return { ...p, sources };
}
