import { KEY, key, type Kv } from '../kv/kv.js';
import type { PathInfo, PathInfoService } from './path-info.js';
import { decodePathInfo, encodePathInfo } from './path-info-codec.js';

/** PathInfoService over a Kv: 'p' + 32-char hash part → encoded PathInfo. */
export class KvPathInfoService implements PathInfoService {
  constructor(private readonly kv: Kv) {}

  async get(hashPart: string): Promise<PathInfo | null> {
    const raw = await this.kv.get(key(KEY.pathInfo, hashPart));
    return raw ? decodePathInfo(raw) : null;
  }

  async put(info: PathInfo): Promise<void> {
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
