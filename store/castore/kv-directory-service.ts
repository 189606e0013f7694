// DirectoryService over a Kv: 'd' + digest → canonical encoding, validated both ways.
import { InvalidInputError } from '../errors.js';
import { KEY, key, type Kv, type KvOp } from '../kv/kv.js';
import { decodeDirectory, directoryDigest, validateDirectory } from './directory-codec.js';
import type { DirectoryService } from './directory-service.js';
import type { Digest, Directory } from './nodes.js';

export class KvDirectoryService implements DirectoryService {
  constructor(private readonly kv: Kv) {}

  async get(digest: Digest): Promise<Directory | null> {
    const raw = await this.kv.get(key(KEY.directory, digest));
    return raw ? decodeDirectory(raw, digest) : null;
  }

  async has(digest: Digest): Promise<boolean> {
    return this.kv.has(key(KEY.directory, digest));
  }

  async putMany(dirs: Directory[]): Promise<Digest[]> {
    // The encoder (msgpackr) is loaded by writers only.
    const { encodeDirectory } = await import('./directory-encode.js');
    const ops: KvOp[] = [];
    const digests: Digest[] = [];
    const inBatch = new Set<string>();
    for (const d of dirs) {
      validateDirectory(d);
      for (const child of d.directories) {
        if (!inBatch.has(child.digest.toString('hex')) && !(await this.has(child.digest))) {
          throw new InvalidInputError('directory', `child directory '${child.name}' (${child.digest.toString('hex')}) must be stored before its parent`);
        }
      }
      const enc = encodeDirectory(d);
      const dg = directoryDigest(enc);
      inBatch.add(dg.toString('hex'));
      digests.push(dg);
      ops.push({ type: 'put', key: key(KEY.directory, dg), value: enc });
    }
    await this.kv.batch(ops);
    return digests;
  }
}

