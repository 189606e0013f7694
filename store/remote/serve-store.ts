// Serves a Store over the daemon socket: one RPC method per Store operation, registered on an
// RpcServer that other components extend with their own methods.
import type { BlobWriter } from '../castore/blob-service.js';
import type { Directory } from '../castore/nodes.js';
import { CorruptionError, InvalidInputError } from '../errors.js';
import type { PathInfo } from '../pathinfo/path-info.js';
import type { Store } from '../store.js';
import { RpcServer, streamOf, type RpcConnection } from './rpc-server.js';

export interface ServeHooks {
  /** Called after a PathInfo is registered through the socket. */
  pathInfoPut?(info: PathInfo): void;
  /** Called after a store path (by hash part) is deleted through the socket. */
  pathInfoDeleted?(hashPart: string): void;
}

/** Registers the Store methods on `server` (or a new one) and listens on `socketPath`. */
export async function serveStore(store: Store, socketPath: string, opts: { server?: RpcServer; hooks?: ServeHooks } = {}): Promise<RpcServer> {
  const server = opts.server ?? new RpcServer({ url: store.url });
  registerStoreMethods(server, store, opts.hooks ?? {});
  await server.listen(socketPath);
  return server;
}

export function registerStoreMethods(server: RpcServer, store: Store, hooks: ServeHooks): void {
  const { blobs, directories, pathInfos, meta } = store;
  server.register('blobs.stat', ([d]) => blobs.stat(buf(d)));
  server.register('blobs.read', ([d, off, len]) => blobs.read(buf(d), num(off), num(len)));
  server.register('blobs.hasChunk', ([d]) => blobs.hasChunk(buf(d)));
  server.register('blobs.readChunk', ([d]) => blobs.readChunk(buf(d)));
  server.register('blobs.write', async ([wid, data], conn) => {
    await writerOf(conn, num(wid), blobs).write(buf(data));
  });
  server.register('blobs.close', async ([wid, expected], conn) => {
    const w = writerOf(conn, num(wid), blobs);
    writers(conn).delete(num(wid));
    const r = await w.close();
    if (expected && !r.digest.equals(buf(expected))) {
      throw new CorruptionError(`blob sent to the daemon arrived as ${r.digest.toString('hex')}, not ${buf(expected).toString('hex')}`);
    }
    return r;
  });
  server.register('directories.get', ([d]) => directories.get(buf(d)));
  server.register('directories.has', ([d]) => directories.has(buf(d)));
  server.register('directories.putMany', ([dirs]) => directories.putMany(dirs as Directory[]));
  server.register('pathInfos.get', ([h]) => pathInfos.get(str(h)));
  server.register('pathInfos.put', async ([info]) => {
    await pathInfos.put(info as PathInfo);
    hooks.pathInfoPut?.(info as PathInfo);
  });
  server.register('pathInfos.delete', async ([h]) => {
    const existed = await pathInfos.delete(str(h));
    if (existed) hooks.pathInfoDeleted?.(str(h));
    return existed;
  });
  server.register('pathInfos.list', () => streamOf(pathInfos.list()));
  server.register('meta.get', ([k]) => meta.get(str(k)));
  server.register('meta.putMany', ([entries]) => meta.putMany(entries as [string, Uint8Array][]));
  server.register('meta.delete', ([k]) => meta.delete(str(k)));
  server.register('meta.list', ([prefix]) => streamOf(meta.list(str(prefix))));
}

function writers(conn: RpcConnection): Map<number, BlobWriter> {
  let m = conn.state.get('blobWriters') as Map<number, BlobWriter> | undefined;
  if (!m) {
    m = new Map();
    conn.state.set('blobWriters', m);
  }
  return m;
}

/** The connection's blob writer with this client-chosen id, opened on first use. */
function writerOf(conn: RpcConnection, wid: number, blobs: Store['blobs']): BlobWriter {
  const m = writers(conn);
  let w = m.get(wid);
  if (!w) {
    w = blobs.writer();
    m.set(wid, w);
  }
  return w;
}

function buf(v: unknown): Buffer {
  if (!(v instanceof Uint8Array)) throw new InvalidInputError('daemon request', 'expected binary data');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function num(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InvalidInputError('daemon request', `expected a non-negative integer, got ${String(v)}`);
  return v;
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new InvalidInputError('daemon request', 'expected a string');
  return v;
}
