// castore tree → NAR, streamed. Small tokens and small files are batched into large output
// buffers; big file contents pass through in the pieces the blob service yields. Directories
// and small files a little ahead of the writer are fetched concurrently, so a backend with
// per-call latency (LevelDB, a remote store) is not paid for once per entry in sequence.
import { CorruptionError, NotFoundError } from '../errors.js';
import type { Directory, Node } from '../castore/nodes.js';
import type { CaStore } from '../store.js';
import { NAR_TOKENS, narPad } from './nar-format.js';

/** Output buffers are about this large. */
const OUT_SIZE = 256 * 1024;
/** Files up to this size are read whole (and ahead); larger ones are streamed. */
const SMALL_FILE = 64 * 1024;
/** How many entries of a directory are fetched ahead of the one being written. */
const LOOKAHEAD = 128;

const ZERO8 = Buffer.alloc(8);

interface Frame {
  entries: Node[];
  /** UTF-8 bytes of each entry's name (what the NAR holds). */
  names: Buffer[];
  next: number;
  /** Prefetched contents/directories by entry index. */
  ahead: Map<number, Promise<Buffer | Directory>>;
  fetched: number;
}

function noop(): void {}

/**
 * The entries of a directory in NAR order (by UTF-8 bytes of their names), merged from its
 * three sorted lists, with their names encoded once.
 */
function mergeEntries(d: Directory): { entries: Node[]; names: Buffer[] } {
  const lists: { nodes: Node[]; names: Buffer[] }[] = [
    { nodes: d.directories.map((e) => ({ type: 'directory' as const, ...e })), names: d.directories.map((e) => Buffer.from(e.name, 'utf8')) },
    { nodes: d.files.map((e) => ({ type: 'file' as const, ...e })), names: d.files.map((e) => Buffer.from(e.name, 'utf8')) },
    { nodes: d.symlinks.map((e) => ({ type: 'symlink' as const, ...e })), names: d.symlinks.map((e) => Buffer.from(e.name, 'utf8')) },
  ];
  const entries: Node[] = [];
  const names: Buffer[] = [];
  const pos = [0, 0, 0];
  for (;;) {
    let best = -1;
    for (let l = 0; l < 3; l++) {
      if (pos[l]! < lists[l]!.nodes.length && (best < 0 || Buffer.compare(lists[l]!.names[pos[l]!]!, lists[best]!.names[pos[best]!]!) < 0)) best = l;
    }
    if (best < 0) return { entries, names };
    entries.push(lists[best]!.nodes[pos[best]!]!);
    names.push(lists[best]!.names[pos[best]!]!);
    pos[best]!++;
  }
}

/** Accumulates output into OUT_SIZE buffers. */
class Out {
  private buf: Buffer = Buffer.allocUnsafe(OUT_SIZE);
  private pos = 0;
  /** Transient mode: whole buffers handed out by the last take, and buffers free for reuse. */
  private lent: Buffer[] = [];
  private readonly free: Buffer[] = [];
  private parked: Buffer[] = [];

  /** `transient`: a taken buffer is consumed before the producer runs again, so it can be reused. */
  constructor(private readonly transient = false) {}

  /** Appends bytes (full buffers move to `ready`). */
  put(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      if (this.pos === this.buf.length) this.next();
      const k = Math.min(b.length - off, this.buf.length - this.pos);
      this.buf.set(k === b.length ? b : b.subarray(off, off + k), this.pos);
      this.pos += k;
      off += k;
    }
  }

  /** Appends a NAR string: u64 length, bytes, zero padding. */
  putString(s: Buffer): void {
    this.putU64(s.length);
    this.put(s);
    this.put(ZERO8.subarray(0, narPad(s.length)));
  }

  putU64(n: number): void {
    if (this.buf.length - this.pos < 8) this.next();
    this.buf.writeUInt32LE(n % 0x100000000, this.pos);
    this.buf.writeUInt32LE(Math.floor(n / 0x100000000), this.pos + 4);
    this.pos += 8;
  }

  /** Full (or nearly full) buffers, parked for the generator to yield. */
  ready: Buffer[] = [];

  /** Parks the current buffer and starts a fresh one (a yielded buffer is never written again). */
  private next(): void {
    if (this.pos > 0) {
      this.ready.push(this.buf.subarray(0, this.pos));
      if (this.transient) this.parked.push(this.buf);
      this.buf = this.free.pop() ?? Buffer.allocUnsafe(OUT_SIZE);
    }
    this.pos = 0;
  }

  /**
   * Called when buffers are taken. The producer (the generator) runs only when its consumer asks
   * for more, after every buffer of the previous take was yielded: those are free again.
   */
  private recycle(): void {
    if (!this.transient) return;
    for (const b of this.lent) this.free.push(b);
    this.lent = this.parked;
    this.parked = [];
  }

  get length(): number { return this.pos; }

  /** The full buffers (the partial one stays). */
  takeReady(): Buffer[] {
    this.recycle();
    const r = this.ready;
    this.ready = [];
    return r;
  }

  /** Everything written so far, as buffers to yield (the Out starts a fresh buffer). */
  drain(): Buffer[] {
    if (this.pos > 0) this.next();
    this.recycle();
    const r = this.ready;
    this.ready = [];
    return r;
  }
}

async function getDirectory(cas: CaStore, node: Node & { type: 'directory' }): Promise<Directory> {
  const d = await cas.directories.get(node.digest);
  if (!d) throw new NotFoundError(`directory ${node.digest.toString('hex')} ('${node.name}')`, { digest: node.digest.toString('hex') });
  return d;
}

async function readSmall(cas: CaStore, node: Node & { type: 'file' }): Promise<Buffer> {
  const b = await cas.blobs.read(node.digest, 0, node.size);
  if (!b) throw new NotFoundError(`blob ${node.digest.toString('hex')} ('${node.name}')`, { digest: node.digest.toString('hex') });
  if (b.length !== node.size) throw sizeMismatch(node, b.length);
  return b;
}

function sizeMismatch(node: Node & { type: 'file' }, got: number): CorruptionError {
  return new CorruptionError(`blob ${node.digest.toString('hex')} ('${node.name}') has ${got} bytes, its directory entry says ${node.size}`, { digest: node.digest.toString('hex') });
}

function fetchAhead(cas: CaStore, f: Frame): void {
  const limit = Math.min(f.entries.length, f.next + LOOKAHEAD);
  // With a blob service that reads many blobs at once, small files are fetched in groups: the
  // window is refilled only when half of it has been written.
  const readMany = cas.blobs.readMany?.bind(cas.blobs);
  if (readMany && f.fetched < limit && f.fetched - f.next > LOOKAHEAD / 2) return;
  const group: number[] = [];
  for (; f.fetched < limit; f.fetched++) {
    const e = f.entries[f.fetched]!;
    let p: Promise<Buffer | Directory> | null = null;
    if (e.type === 'directory') p = getDirectory(cas, e);
    else if (e.type === 'file' && e.size <= SMALL_FILE) {
      if (readMany) { group.push(f.fetched); continue; }
      p = readSmall(cas, e);
    }
    if (p) {
      p.catch(noop); // awaited later; never an unhandled rejection if the consumer stops early
      f.ahead.set(f.fetched, p);
    }
  }
  if (group.length) {
    const files = group.map((i) => f.entries[i] as Node & { type: 'file' });
    const all = readMany!(files.map((e) => e.digest));
    all.catch(noop);
    group.forEach((i, j) => {
      const e = files[j]!;
      const p = all.then((bs) => {
        const b = bs[j];
        if (!b) throw new NotFoundError(`blob ${e.digest.toString('hex')} ('${e.name}')`, { digest: e.digest.toString('hex') });
        if (b.length !== e.size) throw sizeMismatch(e, b.length);
        return b;
      });
      p.catch(noop);
      f.ahead.set(i, p);
    });
  }
}

/** A large file's stream, opened and its first piece requested before the writer reaches it. */
interface OpenedLarge {
  pieces(): AsyncIterable<Buffer>;
}

function openLarge(cas: CaStore, node: Node & { type: 'file' }, transient: boolean): OpenedLarge {
  const it = cas.blobs.open(node.digest, { transient }).then((s) => {
    if (!s) throw new NotFoundError(`blob ${node.digest.toString('hex')} ('${node.name}')`, { digest: node.digest.toString('hex') });
    return s[Symbol.asyncIterator]();
  });
  const first = it.then((i) => i.next());
  first.catch(noop); // awaited when the writer gets there (or never, if it stops before)
  return {
    async *pieces() {
      const i = await it;
      for (let r = await first; !r.done; r = await i.next()) yield r.value;
    },
  };
}

export interface DumpOptions {
  /**
   * The consumer is done with each buffer before it asks for the next (it writes it out
   * synchronously, or hashes it): output and read buffers are then reused, not allocated per piece.
   */
  transient?: boolean;
}

/**
 * The NAR serialisation of a castore node, as a stream of buffers (the consumer may keep them
 * but must not modify them: large pieces may be the blob service's own cached chunks). Throws NotFoundError for a missing directory or blob and CorruptionError
 * for a blob whose size differs from its entry.
 */
export async function* dumpNar(cas: CaStore, node: Node, opts: DumpOptions = {}): AsyncIterable<Buffer> {
  const transient = opts.transient === true;
  const out = new Out(transient);
  out.put(NAR_TOKENS.magic);
  const stack: Frame[] = [];
  /** Large files opened ahead (at most the one being written and the next). */
  const openedAhead = new Map<Node, OpenedLarge>();

  // Writes one node; for a directory, pushes its frame (its entries are written by the loop).
  const start = async function* (n: Node, prefetched: Promise<Buffer | Directory> | undefined): AsyncGenerator<Buffer, void> {
    out.put(NAR_TOKENS.open);
    if (n.type === 'symlink') {
      out.put(NAR_TOKENS.typeSymlink);
      out.putString(Buffer.from(n.target, 'utf8'));
      out.put(NAR_TOKENS.close);
    } else if (n.type === 'file') {
      out.put(NAR_TOKENS.typeRegular);
      if (n.executable) out.put(NAR_TOKENS.executable);
      out.put(NAR_TOKENS.contents);
      out.putU64(n.size);
      if (n.size <= SMALL_FILE) {
        out.put((await (prefetched ?? readSmall(cas, n))) as Buffer);
      } else {
        yield* out.drain();
        let got = 0;
        const opened = openedAhead.get(n) ?? openLarge(cas, n, transient);
        openedAhead.delete(n);
        for await (const piece of opened.pieces()) {
          got += piece.length;
          if (got > n.size) throw sizeMismatch(n, got);
          if (piece.length >= 4096) {
            yield* out.drain(); // smaller pieces gathered before this one go first
            yield piece;
          } else {
            out.put(piece);
          }
        }
        if (got !== n.size) throw sizeMismatch(n, got);
      }
      out.put(ZERO8.subarray(0, narPad(n.size)));
      out.put(NAR_TOKENS.close);
    } else {
      out.put(NAR_TOKENS.typeDirectory);
      const d = (await (prefetched ?? getDirectory(cas, n))) as Directory;
      const { entries, names } = mergeEntries(d);
      const f: Frame = { entries, names, next: 0, ahead: new Map(), fetched: 0 };
      fetchAhead(cas, f);
      stack.push(f);
    }
  };

  yield* start(node, undefined);
  while (stack.length) {
    const f = stack[stack.length - 1]!;
    if (f.next === f.entries.length) {
      stack.pop();
      out.put(NAR_TOKENS.close); // the directory node
      if (stack.length) out.put(NAR_TOKENS.close); // the entry that held it
    } else {
      const i = f.next++;
      const e = f.entries[i]!;
      const pre = f.ahead.get(i);
      f.ahead.delete(i);
      fetchAhead(cas, f);
      out.put(NAR_TOKENS.entryOpen);
      out.putString(f.names[i]!);
      out.put(NAR_TOKENS.node);
      const depth = stack.length;
      // The next large file of this directory starts reading while this one is written.
      if (e.type === 'file' && e.size > SMALL_FILE) {
        for (let j = i + 1; j < Math.min(f.entries.length, i + LOOKAHEAD); j++) {
          const x = f.entries[j]!;
          if (x.type === 'file' && x.size > SMALL_FILE) {
            if (!openedAhead.has(x)) openedAhead.set(x, openLarge(cas, x, transient));
            break;
          }
        }
      }
      yield* start(e, pre);
      if (stack.length === depth) out.put(NAR_TOKENS.close); // entry of a file or symlink
    }
    if (out.ready.length) yield* out.takeReady();
  }
  yield* out.drain();
}
