import { KEY, key, type Kv } from '../kv/kv.js';
import type { PathInfo, PathInfoService } from './path-info.js';
import { decodePathInfo } from './path-info-codec.js';
import { InvalidInputError } from '../errors.js';
import { parseStorePath } from '../nix/store-path.js';

/** Refuses a PathInfo that could not be read back (InvalidInputError naming the field). */
export function validatePathInfo(info: PathInfo): void {
  const bad = (field: string, why: string) => new InvalidInputError('PathInfo', `${field} ${why}`, { path: info?.path, field });
  if (!info || typeof info.path !== 'string') throw bad('path', 'is missing');
  parseStorePath(info.path);
  if (!info.node || !['file', 'directory', 'symlink'].includes(info.node.type)) throw bad('node', 'is not a file, directory or symlink node');
  if (!(info.narHash instanceof Uint8Array) || info.narHash.length !== 32) throw bad('narHash', 'is not 32 bytes of sha256');
  if (!Number.isSafeInteger(info.narSize) || info.narSize < 0) throw bad('narSize', 'is not a non-negative integer');
  if (!Array.isArray(info.references)) throw bad('references', 'is not a list');
  for (const r of info.references) parseStorePath(r);
  if (info.deriver !== null && typeof info.deriver !== 'string') throw bad('deriver', 'is not a string or null');
  if (!Array.isArray(info.signatures) || info.signatures.some((x) => typeof x !== 'string')) throw bad('signatures', 'is not a list of strings');
  if (info.ca !== null && typeof info.ca !== 'string') throw bad('ca', 'is not a string or null');
}

/** PathInfoService over a Kv: 'p' + 32-char hash part → encoded PathInfo. */
export class KvPathInfoService implements PathInfoService {
  constructor(private readonly kv: Kv) {}

  async get(hashPart: string): Promise<PathInfo | null> {
    const raw = await this.kv.get(key(KEY.pathInfo, hashPart));
    return raw ? decodePathInfo(raw) : null;
  }

  async put(info: PathInfo): Promise<void> {
    validatePathInfo(info);
    // The encoder (msgpackr) is loaded by writers only.
    const { encodePathInfo } = await import('./path-info-encode.js');
    const hashPart = info.path.slice(info.path.lastIndexOf('/') + 1, info.path.lastIndexOf('/') + 33);
    await this.kv.batch([{ type: 'put', key: key(KEY.pathInfo, hashPart), value: encodePathInfo(info) }]);
  }

  async *list(): AsyncIterable<PathInfo> {
    for await (const [, v] of this.kv.iterate(Buffer.from([KEY.pathInfo]))) yield decodePathInfo(v);
  }

  async delete(hashPart: string): Promise<boolean> {
    const k = key(KEY.pathInfo, hashPart);
    const had = await this.kv.has(k);
    if (had) await this.kv.batch([{ type: 'del', key: k }]);
    return had;
  }
}
