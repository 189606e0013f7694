// Adding a filesystem path as a content-addressed store path (`nix-store --add[-fixed]`):
// castore tree first, PathInfo last, so a crash never leaves a visible half path.
import { basename } from 'node:path';
import { lstat } from 'node:fs/promises';
import type { PathInfo } from '../pathinfo/path-info.js';
import { formatContentAddress } from '../nix/content-address.js';
import { hashFile, type HashAlgo, type NixHash } from '../nix/hash.js';
import { hashStream } from '../nix/hash.js';
import { checkStorePathName, makeFixedOutputPath, storePathHashPart } from '../nix/store-path.js';
import type { Store } from '../store.js';
import { IngestError, ingestPath } from './ingest.js';
import type { FileIngestionMethod } from '../nix/store-path.js';

export interface AddOptions {
  /** Store path name (default: the file's base name). */
  name?: string;
  method?: FileIngestionMethod;
  algo?: HashAlgo;
}

export async function addPathToStore(store: Store, fsPath: string, opts: AddOptions = {}): Promise<PathInfo> {
  const name = opts.name ?? basename(fsPath.replace(/\/+$/, '') || '/');
  checkStorePathName(name);
  const method = opts.method ?? 'recursive';
  const algo = opts.algo ?? 'sha256';
  if (method === 'flat') {
    const st = await lstat(fsPath).catch(() => null);
    if (!st?.isFile()) throw new IngestError(fsPath, 'flat hashing needs a regular file');
  }
  const ingested = await ingestPath(store, fsPath);
  const caHash: NixHash = method === 'recursive'
    ? (algo === 'sha256' ? { algo, digest: ingested.narHash } : await narHashWith(store, ingested.node, algo))
    : await hashFile(algo, fsPath);
  const path = makeFixedOutputPath(method, caHash, name);
  const info: PathInfo = {
    path,
    node: { ...ingested.node, name: '' } as PathInfo['node'],
    narHash: ingested.narHash,
    narSize: ingested.narSize,
    references: [],
    deriver: null,
    signatures: [],
    ca: formatContentAddress({ type: 'fixed', method, hash: caHash }),
    registrationTime: Math.floor(Date.now() / 1000),
  };
  const existing = await store.pathInfos.get(storePathHashPart(path));
  if (existing && existing.narHash.equals(info.narHash)) return existing;
  await store.pathInfos.put(info);
  return info;
}

async function narHashWith(store: Store, node: PathInfo['node'], algo: HashAlgo): Promise<NixHash> {
  const { dumpNar } = await import('../nix/nar-dump.js');
  return (await hashStream(algo, dumpNar(store, node))).hash;
}
