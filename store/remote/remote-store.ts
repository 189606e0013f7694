// A Store whose services live in a running daemon, reached over its unix socket. Writes are
// pipelined (blob bytes, directories) and their digests computed here, so adding a large tree
// costs no round trip per file; a PathInfo is registered only after everything sent before it
// is acknowledged, so no dangling reference becomes visible.
import type { BlobService, BlobWriter } from '../castore/blob-service.js';
import type { DirectoryService } from '../castore/directory-service.js';
import { directoryDigest, validateDirectory } from '../castore/directory-codec.js';
import { encodeDirectory } from '../castore/directory-encode.js';
import type { BlobStat, Digest, Directory } from '../castore/nodes.js';
import { ConfigError, InvalidInputError } from '../errors.js';
import { Blake3 } from '../hash/blake3.js';
import type { PathInfo, PathInfoService } from '../pathinfo/path-info.js';
import type { MetaService, Store } from '../store.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { RpcClient } from './rpc-client.js';

export { serveStore } from './serve-store.js';

/** Writes smaller than this are gathered into one message. */
const COALESCE_BYTES = 1 << 20;
/** Read size and parallelism when streaming a blob. */
const STREAM_READ = 1 << 20;
const STREAM_AHEAD = 4;

/** The store served by the daemon listening on `socketPath`, or null when none listens. */
export async function connectRemoteStore(socketPath: string): Promise<Store | null> {
  const rpc = await RpcClient.connect(socketPath);
  if (!rpc) return null;
  const hello = await rpc.call('hello', [PROTOCOL_VERSION]) as { version: number; url?: string };
  if (hello.version !== PROTOCOL_VERSION) {
    rpc.close();
    throw new ConfigError(`the daemon on ${socketPath} speaks protocol ${hello.version}, this tsix speaks ${PROTOCOL_VERSION}: restart the daemon`);
  }
  return new RemoteStore(rpc, hello.url ?? `unix://${socketPath}`);
}

export class RemoteStore implements Store {
  readonly blobs: BlobService;
  readonly directories: DirectoryService;
  readonly pathInfos: PathInfoService;
  readonly meta: MetaService;

  constructor(readonly rpc: RpcClient, readonly url: string) {
    this.blobs = new RemoteBlobService(rpc);
    this.directories = new RemoteDirectoryService(rpc);
    this.pathInfos = new RemotePathInfoService(rpc);
    this.meta = new RemoteMetaService(rpc);
  }

  async close(): Promise<void> {
    try {
      await this.rpc.barrier();
    } finally {
      this.rpc.close();
    }
  }
}

class RemoteBlobService implements BlobService {
  private nextWriter = 1;
  constructor(private readonly rpc: RpcClient) {}

  async stat(digest: Digest): Promise<BlobStat | null> {
    return await this.rpc.call('blobs.stat', [digest]) as BlobStat | null;
  }

  async read(digest: Digest, offset: number, length: number): Promise<Buffer | null> {
    return await this.rpc.call('blobs.read', [digest, offset, length]) as Buffer | null;
  }

  async open(digest: Digest): Promise<AsyncIterable<Buffer> | null> {
    const st = await this.stat(digest);
    if (!st) return null;
    return this.stream(digest, st.size);
  }

  private async *stream(digest: Digest, size: number): AsyncIterable<Buffer> {
    const reads: Promise<Buffer | null>[] = [];
    let next = 0;
    const fill = () => {
      while (reads.length < STREAM_AHEAD && next < size) {
        const r = this.read(digest, next, STREAM_READ);
        r.catch(() => undefined); // awaited in order below; a consumer that stops early leaves some unawaited
        reads.push(r);
        next += STREAM_READ;
      }
    };
    fill();
    while (reads.length) {
      const b = await reads.shift()!;
      fill();
      if (!b) throw new InvalidInputError('blob', `${digest.toString('hex')} vanished while it was being read`);
      if (b.length) yield b;
    }
  }

  async hasChunk(digest: Digest): Promise<boolean> {
    return await this.rpc.call('blobs.hasChunk', [digest]) as boolean;
  }

  async readChunk(digest: Digest): Promise<Buffer | null> {
    return await this.rpc.call('blobs.readChunk', [digest]) as Buffer | null;
  }

  writer(): BlobWriter {
    return new RemoteBlobWriter(this.rpc, this.nextWriter++);
  }
}

class RemoteBlobWriter implements BlobWriter {
  private readonly hash = new Blake3();
  private size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private closed = false;

  constructor(private readonly rpc: RpcClient, private readonly id: number) {}

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('blob writer is closed');
    if (data.length === 0) return;
    this.hash.update(data);
    this.size += data.length;
    // Copied: the caller may reuse `data` once this resolves.
    this.pending.push(Buffer.from(data));
    this.pendingBytes += data.length;
    if (this.pendingBytes >= COALESCE_BYTES) await this.flush();
  }

  async close(): Promise<{ digest: Digest; size: number }> {
    if (this.closed) throw new Error('blob writer is closed');
    this.closed = true;
    await this.flush();
    const digest = this.hash.digest();
    // The daemon checks that what it stored has this digest; a failure surfaces at the next barrier.
    await this.rpc.send('blobs.close', [this.id, digest]);
    return { digest, size: this.size };
  }

  private async flush(): Promise<void> {
    if (!this.pendingBytes) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.rpc.send('blobs.write', [this.id, data]);
  }
}

class RemoteDirectoryService implements DirectoryService {
  /** Directories this client stored or saw stored, so child checks need no round trip. */
  private readonly known = new Set<string>();
  constructor(private readonly rpc: RpcClient) {}

  async get(digest: Digest): Promise<Directory | null> {
    return await this.rpc.call('directories.get', [digest]) as Directory | null;
  }

  async has(digest: Digest): Promise<boolean> {
    if (this.known.has(digest.toString('latin1'))) return true;
    const yes = await this.rpc.call('directories.has', [digest]) as boolean;
    if (yes) this.known.add(digest.toString('latin1'));
    return yes;
  }

  async putMany(dirs: Directory[]): Promise<Digest[]> {
    const digests: Digest[] = [];
    const batch = new Set<string>();
    for (const d of dirs) {
      validateDirectory(d);
      for (const child of d.directories) {
        const k = child.digest.toString('latin1');
        if (!batch.has(k) && !(await this.has(child.digest))) {
          throw new InvalidInputError('directory', `child directory '${child.name}' (${child.digest.toString('hex')}) must be stored before its parent`);
        }
      }
      const dg = directoryDigest(encodeDirectory(d));
      batch.add(dg.toString('latin1'));
      digests.push(dg);
    }
    await this.rpc.send('directories.putMany', [dirs]);
    for (const k of batch) this.known.add(k);
    return digests;
  }
}

class RemotePathInfoService implements PathInfoService {
  constructor(private readonly rpc: RpcClient) {}

  async get(hashPart: string): Promise<PathInfo | null> {
    return await this.rpc.call('pathInfos.get', [hashPart]) as PathInfo | null;
  }

  async put(info: PathInfo): Promise<void> {
    // Everything the path points to must be stored (and acknowledged) before it is registered.
    await this.rpc.barrier();
    await this.rpc.call('pathInfos.put', [info]);
  }

  async *list(): AsyncIterable<PathInfo> {
    yield* this.rpc.stream('pathInfos.list') as AsyncIterable<PathInfo>;
  }

  async delete(hashPart: string): Promise<boolean> {
    return await this.rpc.call('pathInfos.delete', [hashPart]) as boolean;
  }
}

class RemoteMetaService implements MetaService {
  constructor(private readonly rpc: RpcClient) {}

  async get(key: string): Promise<Buffer | null> {
    return await this.rpc.call('meta.get', [key]) as Buffer | null;
  }

  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    await this.rpc.barrier();
    await this.rpc.call('meta.putMany', [entries]);
  }

  async delete(key: string): Promise<void> {
    await this.rpc.call('meta.delete', [key]);
  }

  async *list(prefix: string): AsyncIterable<[string, Buffer]> {
    yield* this.rpc.stream('meta.list', [prefix]) as AsyncIterable<[string, Buffer]>;
  }
}
