// The daemon's socket protocol: length-prefixed msgpack frames over a unix socket.
//   request   [0, id, method, params[]]
//   result    [1, id, value]
//   error     [2, id, {code, message, data}]
// Requests of one connection run in arrival order (so a client may pipeline writes and rely on
// them having happened before a later request), except methods registered as concurrent.
// A method that returns a stream answers {$stream: sid}; the client pulls items with
// `$next(sid, max)` → [items, done] and may end it early with `$close(sid)`.
import { Packr } from 'msgpackr';
import {
  ConfigError, CorruptionError, HashMismatchError, InvalidInputError, NotFoundError, ReadOnlyError,
  StoreLockedError, TsixError, isTsixError,
} from '../errors.js';

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME = 256 << 20;

export const REQUEST = 0;
export const RESULT = 1;
export const ERROR = 2;

export type Request = [typeof REQUEST, number, string, unknown[]];
export type Response = [typeof RESULT, number, unknown] | [typeof ERROR, number, WireError];
export interface WireError { code: string; message: string; data: Record<string, unknown> }

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeFrame(msg: unknown): Buffer {
  const body = packr.pack(msg);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into decoded frames (a big frame arriving in pieces is joined once). */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private size = 0;
  private need = 4;

  /** Feeds bytes; returns the complete messages they finish. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const out: unknown[] = [];
    while (this.size >= this.need) {
      let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32LE(off);
        if (len > MAX_FRAME) throw new ProtocolError(`frame of ${len} bytes exceeds the limit of ${MAX_FRAME}`);
        if (buf.length - off - 4 < len) break;
        out.push(packr.unpack(buf.subarray(off + 4, off + 4 + len)));
        off += 4 + len;
      }
      buf = buf.subarray(off);
      this.chunks = buf.length ? [buf] : [];
      this.size = buf.length;
      this.need = buf.length >= 4 ? 4 + buf.readUInt32LE(0) : 4;
    }
    return out;
  }
}

export class ProtocolError extends TsixError {
  constructor(message: string) {
    super('E_PROTOCOL', `daemon protocol: ${message}`);
  }
}

/** An error raised by the daemon whose class is not known here. */
export class RemoteError extends TsixError {}

export function errorToWire(err: unknown): WireError {
  if (isTsixError(err)) return { code: err.code, message: err.message, data: plain(err.data) };
  return { code: 'E_REMOTE', message: err instanceof Error ? err.message : String(err), data: {} };
}

// Known classes are rebuilt as themselves so that `instanceof` works on the client as it would
// against a local store.
const CLASSES: Record<string, { prototype: TsixError }> = {
  E_INVALID_INPUT: InvalidInputError,
  E_CORRUPT: CorruptionError,
  E_HASH_MISMATCH: HashMismatchError,
  E_NOT_FOUND: NotFoundError,
  E_READ_ONLY: ReadOnlyError,
  E_CONFIG: ConfigError,
  E_LOCKED: StoreLockedError,
};

export function errorFromWire(w: WireError): TsixError {
  const cls = CLASSES[w.code];
  if (!cls) return new RemoteError(w.code, w.message, w.data);
  // A real Error (native slot and stack), given the class's prototype.
  const e = new Error(w.message);
  Object.setPrototypeOf(e, cls.prototype);
  Object.assign(e, { code: w.code, data: w.data, name: (cls as unknown as { name: string }).name });
  return e as TsixError;
}

/** Error data with only what msgpack can carry. */
function plain(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v) || Buffer.isBuffer(v)) out[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) out[k] = v;
  }
  return out;
}
