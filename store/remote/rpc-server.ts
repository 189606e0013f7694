// The daemon side of the socket protocol (see protocol.ts): a registry of methods by name, so
// later components add their own (build, instantiate, status) next to the store's.
import { lstat, mkdir, unlink, chmod } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { TsixError } from '../errors.js';
import { logger } from '../log.js';
import { encodeFrame, errorToWire, ERROR, FrameDecoder, PROTOCOL_VERSION, REQUEST, RESULT, ProtocolError, type Request } from './protocol.js';

/** A handler gets the request's parameters and its connection; it may return `streamOf(...)`. */
export type Handler = (params: unknown[], conn: RpcConnection) => unknown;

export interface MethodOptions {
  /** Run as soon as it arrives instead of in the connection's order (for long-running calls). */
  concurrent?: boolean;
}

/** Marks a handler result that is sent as a stream of items pulled by the client. */
export class StreamResult {
  constructor(readonly items: AsyncIterable<unknown>) {}
}
export const streamOf = (items: AsyncIterable<unknown>): StreamResult => new StreamResult(items);

export class DaemonRunningError extends TsixError {
  constructor(socketPath: string) {
    super('E_DAEMON_RUNNING', `a daemon is already listening on ${socketPath}`, { socketPath });
  }
}

const log = logger('rpc');

export class RpcServer {
  private readonly methods = new Map<string, { handler: Handler; opts: MethodOptions }>();
  private server: Server | null = null;
  private readonly conns = new Set<RpcConnection>();
  socketPath: string | null = null;

  constructor(private readonly info: Record<string, unknown> = {}) {
    this.register('hello', () => ({ version: PROTOCOL_VERSION, ...this.info }));
    this.register('$next', async ([sid, max], conn) => conn.next(sid as number, max as number));
    this.register('$close', async ([sid], conn) => conn.closeStream(sid as number));
  }

  /** Adds a method; names are unique. */
  register(name: string, handler: Handler, opts: MethodOptions = {}): void {
    if (this.methods.has(name)) throw new Error(`rpc method '${name}' is already registered`);
    this.methods.set(name, { handler, opts });
  }

  method(name: string): { handler: Handler; opts: MethodOptions } | undefined {
    return this.methods.get(name);
  }

  /** Listens on a unix socket (mode 0600, in a 0700 directory); removes a stale socket file first. */
  async listen(socketPath: string): Promise<void> {
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
    if (await lstat(socketPath).catch(() => null)) {
      if (await isListening(socketPath)) throw new DaemonRunningError(socketPath);
      await unlink(socketPath);
    }
    const server = createServer((s) => this.accept(s));
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(socketPath, () => { server.off('error', rej); res(); });
      });
    } finally {
      process.umask(oldMask);
    }
    await chmod(socketPath, 0o600);
    this.server = server;
    this.socketPath = socketPath;
    log.info({ socketPath }, 'listening');
  }

  /** Stops listening, drops every connection and removes the socket file. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.conns) c.destroy();
    if (server) await new Promise<void>((res) => server.close(() => res()));
    if (this.socketPath) await unlink(this.socketPath).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    const conn = new RpcConnection(this, socket);
    this.conns.add(conn);
    socket.on('close', () => { this.conns.delete(conn); conn.closed(); });
  }
}

/** One client connection: its ordered request queue, open streams and handler state. */
export class RpcConnection {
  /** Per-connection state for handlers (e.g. open blob writers), dropped when it closes. */
  readonly state = new Map<string, unknown>();
  private readonly queue: Request[] = [];
  private running = false;
  private readonly streams = new Map<number, AsyncIterator<unknown>>();
  private nextStream = 1;
  private readonly closeHooks: (() => void)[] = [];
  private isClosed = false;

  constructor(private readonly server: RpcServer, private readonly socket: Socket) {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk) => {
      let msgs: unknown[];
      try {
        msgs = decoder.push(chunk);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'bad frame; closing connection');
        socket.destroy();
        return;
      }
      for (const m of msgs) this.enqueue(m);
    });
    socket.on('error', (err) => log.debug({ err: err.message }, 'connection error'));
  }

  onClose(f: () => void): void {
    this.closeHooks.push(f);
  }

  destroy(): void {
    this.socket.destroy();
  }

  closed(): void {
    this.isClosed = true;
    for (const it of this.streams.values()) void it.return?.();
    this.streams.clear();
    for (const f of this.closeHooks) f();
  }

  private enqueue(m: unknown): void {
    if (!Array.isArray(m) || m[0] !== REQUEST || typeof m[1] !== 'number' || typeof m[2] !== 'string' || !Array.isArray(m[3])) {
      log.warn('malformed request; closing connection');
      this.socket.destroy();
      return;
    }
    const req = m as Request;
    if (this.server.method(req[2])?.opts.concurrent) {
      void this.run(req);
      return;
    }
    this.queue.push(req);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length && !this.isClosed) {
      await this.run(this.queue.shift()!);
      // Back-pressure: stop running requests while the client does not read its answers.
      if (this.socket.writableNeedDrain) await this.drained();
    }
    this.running = false;
  }

  private drained(): Promise<void> {
    return new Promise((res) => {
      const done = () => { this.socket.off('drain', done); this.socket.off('close', done); res(); };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private async run([, id, name, params]: Request): Promise<void> {
    const m = this.server.method(name);
    let frame: Buffer;
    try {
      if (!m) throw new ProtocolError(`unknown method '${name}'`);
      let value = await m.handler(params, this);
      if (value instanceof StreamResult) {
        const sid = this.nextStream++;
        this.streams.set(sid, value.items[Symbol.asyncIterator]());
        value = { $stream: sid };
      }
      frame = encodeFrame([RESULT, id, value ?? null]);
    } catch (err) {
      if (!(err instanceof TsixError)) log.error({ method: name, err: (err as Error)?.stack ?? String(err) }, 'rpc handler failed');
      frame = encodeFrame([ERROR, id, errorToWire(err)]);
    }
    if (!this.isClosed) this.socket.write(frame);
  }

  async next(sid: number, max: number): Promise<[unknown[], boolean]> {
    const it = this.streams.get(sid);
    if (!it) throw new ProtocolError(`no open stream ${sid}`);
    const items: unknown[] = [];
    while (items.length < Math.max(1, Math.min(max, 4096))) {
      const r = await it.next();
      if (r.done) { this.streams.delete(sid); return [items, true]; }
      items.push(r.value);
    }
    return [items, false];
  }

  async closeStream(sid: number): Promise<void> {
    const it = this.streams.get(sid);
    this.streams.delete(sid);
    await it?.return?.();
  }
}

/** Whether something accepts connections on a unix socket. */
export function isListening(socketPath: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection(socketPath);
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}
