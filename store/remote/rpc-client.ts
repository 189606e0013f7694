// The client side of the socket protocol: calls, pipelined sends with deferred errors, and
// pulled streams.
import { lstat, unlink } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { encodeFrame, errorFromWire, ERROR, FrameDecoder, ProtocolError, REQUEST, RESULT, type WireError } from './protocol.js';

/** Bytes of pipelined requests that may be unanswered before `send` waits. */
const MAX_IN_FLIGHT_BYTES = 64 << 20;

interface Pending { resolve(v: unknown): void; reject(e: Error): void; bytes: number }

export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private inFlightBytes = 0;
  private deferred: Error | null = null;
  private sends = new Set<Promise<unknown>>();
  private waiters: (() => void)[] = [];
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk) => {
      let msgs: unknown[];
      try {
        msgs = decoder.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        socket.destroy();
        return;
      }
      for (const m of msgs) this.onMessage(m);
    });
    socket.on('error', (err) => this.fail(new ProtocolError(`connection to the daemon failed: ${err.message}`)));
    socket.on('close', () => this.fail(new ProtocolError('the daemon closed the connection')));
    // Idle connections do not keep the process alive.
    socket.unref();
  }

  /** Connects; null when nothing listens there (a stale socket file is removed). */
  static async connect(socketPath: string): Promise<RpcClient | null> {
    const socket = createConnection(socketPath);
    try {
      await new Promise<void>((res, rej) => { socket.once('connect', res); socket.once('error', rej); });
    } catch (err) {
      socket.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') {
        const st = await lstat(socketPath).catch(() => null);
        if (st?.isSocket()) await unlink(socketPath).catch(() => undefined);
        return null;
      }
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new ProtocolError(`cannot connect to ${socketPath}: ${(err as Error).message}`);
    }
    return new RpcClient(socket);
  }

  /** Calls a method and waits for its answer. */
  call(method: string, params: unknown[] = []): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const frame = encodeFrame([REQUEST, id, method, params]);
    const p = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject, bytes: frame.length }));
    this.inFlightBytes += frame.length;
    if (this.pending.size === 1) this.socket.ref();
    this.socket.write(frame);
    return p;
  }

  /**
   * Sends a request without waiting for its answer (requests run in order on the daemon, so a
   * later call sees its effect). A failure is kept and thrown by the next `barrier()`.
   * Resolves once there is room for more (in-flight bytes bounded).
   */
  async send(method: string, params: unknown[] = []): Promise<void> {
    if (this.deferred) throw this.takeDeferred();
    const p = this.call(method, params).catch((err: Error) => { this.deferred ??= err; });
    this.sends.add(p);
    void p.finally(() => this.sends.delete(p));
    while (this.inFlightBytes > MAX_IN_FLIGHT_BYTES && !this.closedError) await new Promise<void>((res) => this.waiters.push(res));
  }

  /** Waits until every sent request is answered; throws the first failure among them. */
  async barrier(): Promise<void> {
    while (this.sends.size) await Promise.all([...this.sends]);
    if (this.deferred) throw this.takeDeferred();
  }

  /** Items of a streamed result, pulled in batches (one batch ahead). */
  async *stream(method: string, params: unknown[] = [], batch = 512): AsyncIterable<unknown> {
    const head = await this.call(method, params) as { $stream?: number };
    if (typeof head?.$stream !== 'number') throw new ProtocolError(`'${method}' did not answer with a stream`);
    const sid = head.$stream;
    let done = false;
    try {
      let next = this.call('$next', [sid, batch]) as Promise<[unknown[], boolean]>;
      while (!done) {
        const [items, end] = await next;
        done = end;
        if (!done) next = this.call('$next', [sid, batch]) as Promise<[unknown[], boolean]>;
        yield* items;
      }
    } finally {
      if (!done) await this.call('$close', [sid]).catch(() => undefined);
    }
  }

  close(): void {
    this.socket.end();
    this.socket.unref();
  }

  private takeDeferred(): Error {
    const e = this.deferred!;
    this.deferred = null;
    return e;
  }

  private onMessage(m: unknown): void {
    if (!Array.isArray(m) || typeof m[1] !== 'number') return this.fail(new ProtocolError('malformed answer'));
    const p = this.pending.get(m[1]);
    if (!p) return;
    this.pending.delete(m[1]);
    this.settled(p);
    if (m[0] === RESULT) p.resolve(m[2]);
    else if (m[0] === ERROR) p.reject(errorFromWire(m[2] as WireError));
    else p.reject(new ProtocolError('malformed answer'));
  }

  private settled(p: Pending): void {
    this.inFlightBytes -= p.bytes;
    if (this.pending.size === 0) this.socket.unref();
    if (this.inFlightBytes <= MAX_IN_FLIGHT_BYTES / 2 && this.waiters.length) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const p of this.pending.values()) p.reject(this.closedError);
    this.pending.clear();
    this.inFlightBytes = 0;
    for (const f of this.waiters) f();
    this.waiters = [];
  }
}
