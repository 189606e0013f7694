// castore tree → NAR, streamed. Small tokens and small files are batched into large output
// buffers; big file contents pass through in the pieces the blob service yields. Directories
// and small files ahead of the writer are fetched in batches (one readMany per window of a
// directory's files), also for the next directories of the one being written, so a backend with
// per-call latency (LevelDB, a remote store) is paid once per batch, not once per entry, and the
// writer rarely waits for it.
import { CorruptionError, NotFoundError } from '../errors.js';
import type { Directory, Node } from '../castore/nodes.js';
import type { CaStore } from '../store.js';
import { NAR_TOKENS, narPad } from './nar-format.js';
import { NarOut } from './nar-out.js';

/** Files up to this size are read whole (and ahead); larger ones are streamed. */
const SMALL_FILE = 64 * 1024;
/** At most this many entries of a directory are fetched ahead of the one being written. */
const WINDOW = 256;
/** ... and at most about this many bytes of small files. */
const WINDOW_BYTES = 4 << 20;
/** Directories (after the one being written) whose first small files are fetched ahead too. */
const NEAR_DIRS = 2;
/**
 * Subdirectories (of each directory on the way) read ahead of the writer. Reading all those in a
 * window (up to 256) at once kept every one decoded until written: in the bench tree the 200
 * directories of 100 files each were decoded before the first large file was hashed, ~6 MB
 * promoted to the old generation, and V8 started a major GC (70 ms of the main thread's GC in the
 * first 400 ms of a dump).
 */
const DIRS_AHEAD = 8;

const ZERO8 = Buffer.alloc(8);
// Token runs that always go together, so a file costs a few copies rather than one per token.
const ENTRY_HEAD = NAR_TOKENS.entryOpen;
const NODE_OPEN = Buffer.concat([NAR_TOKENS.node, NAR_TOKENS.open]);
const FILE_HEAD = Buffer.concat([NAR_TOKENS.typeRegular, NAR_TOKENS.contents]);
const EXEC_FILE_HEAD = Buffer.concat([NAR_TOKENS.typeRegular, NAR_TOKENS.executable, NAR_TOKENS.contents]);
const CLOSE2 = Buffer.concat([NAR_TOKENS.close, NAR_TOKENS.close]);
/** Padding (0-7 zero bytes) followed by the two closes of a file entry, by padding length. */
const FILE_TAIL = Array.from({ length: 8 }, (_, n) => Buffer.concat([ZERO8.subarray(0, n), CLOSE2]));

type FileNode = Node & { type: 'file' };
type DirNode = Node & { type: 'directory' };

function noop(): void {}

/** Small file contents of one window of a directory: entries [start, end), the small files among them. */
interface Batch {
  start: number;
  end: number;
  /** Entry index → position in `values`, or -1 (not a small file). */
  slot: Int32Array;
  data: Promise<(Buffer | null)[]>;
  /** `data` once settled, so entries after the first need no await. */
  values: (Buffer | null)[] | null;
  /** The blobs were read without their check (the output checks them before handing them out). */
  unchecked: boolean;
}

/** A subdirectory's frame being read, and the frame once it is (so the writer needs no await then). */
interface DirSlot {
  promise: Promise<Frame>;
  frame: Frame | null;
}

/** A directory's entries in NAR order, and what of them has been fetched ahead. */
interface Frame {
  entries: Node[];
  /** UTF-8 bytes of each entry's name (what the NAR holds). */
  names: Buffer[];
  /** The entry to write next. */
  next: number;
  /** Entries [0, fetched) have had their reads issued. */
  fetched: number;
  batches: Batch[];
  /** Subdirectories' frames, by entry index, once asked for. */
  dirs: Map<number, DirSlot>;
  /** Indexes of the directory entries among those fetched, in order; [dirHead, ...) are not written yet. */
  dirOrder: number[];
  dirHead: number;
  /** Entries of dirOrder before this one have their frames in `dirs` (or written). */
  requested: number;
  /** Entries of dirOrder up to this one have had their first window started. */
  started: number;
}

/** The entries of a directory in NAR order (by UTF-8 bytes of their names), names encoded once. */
function mergeEntries(d: Directory): { entries: Node[]; names: Buffer[] } {
  const lists: Node[][] = [
    d.directories.map((e): Node => ({ type: 'directory', name: e.name, digest: e.digest, size: e.size })),
    d.files.map((e): Node => ({ type: 'file', name: e.name, digest: e.digest, size: e.size, executable: e.executable })),
    d.symlinks.map((e): Node => ({ type: 'symlink', name: e.name, target: e.target })),
  ];
  const nonEmpty = lists.filter((l) => l.length > 0);
  // One kind only (the common case): each list is sorted already.
  if (nonEmpty.length <= 1) {
    const entries = nonEmpty[0] ?? [];
    return { entries, names: entries.map((e) => Buffer.from(e.name, 'utf8')) };
  }
  const names = lists.map((l) => l.map((e) => Buffer.from(e.name, 'utf8')));
  const out: { entries: Node[]; names: Buffer[] } = { entries: [], names: [] };
  const pos = [0, 0, 0];
  for (;;) {
    let best = -1;
    for (let l = 0; l < 3; l++) {
      if (pos[l]! < lists[l]!.length && (best < 0 || Buffer.compare(names[l]![pos[l]!]!, names[best]![pos[best]!]!) < 0)) best = l;
    }
    if (best < 0) return out;
    out.entries.push(lists[best]![pos[best]!]!);
    out.names.push(names[best]![pos[best]!]!);
    pos[best]!++;
  }
}

function missing(what: string, node: { name: string; digest: Buffer }): NotFoundError {
  return new NotFoundError(`${what} ${node.digest.toString('hex')} ('${node.name}')`, { digest: node.digest.toString('hex') });
}

function sizeMismatch(node: FileNode, got: number): CorruptionError {
  return new CorruptionError(`blob ${node.digest.toString('hex')} ('${node.name}') has ${got} bytes, its directory entry says ${node.size}`, { digest: node.digest.toString('hex') });
}

/** Reads and walks ahead of the writer. */
class Fetcher {
  constructor(private readonly cas: CaStore) {}

  async frame(node: DirNode): Promise<Frame> {
    const d = await this.cas.directories.get(node.digest);
    if (!d) throw missing('directory', node);
    const { entries, names } = mergeEntries(d);
    return { entries, names, next: 0, fetched: 0, batches: [], dirs: new Map(), dirOrder: [], dirHead: 0, requested: 0, started: 0 };
  }

  /**
   * Issues the reads of `f`'s entries from `fetched` on: one batch of small files up to WINDOW
   * entries or WINDOW_BYTES past the writer, refilled once half of it is written, and the frames
   * of the next DIRS_AHEAD subdirectories. With `near` (the directory being written), the first
   * NEAR_DIRS subdirectories ahead of the writer get their first window started as well (only one
   * level down: the read-ahead stays bounded).
   */
  fill(f: Frame, near = true): void {
    const limit = Math.min(f.entries.length, f.next + WINDOW);
    if (f.fetched < limit && f.fetched - f.next <= WINDOW / 2) this.issue(f, limit);
    while (f.dirHead < f.dirOrder.length && f.dirOrder[f.dirHead]! < f.next) f.dirHead++;
    f.requested = Math.max(f.requested, f.dirHead);
    for (; f.requested < Math.min(f.dirOrder.length, f.dirHead + DIRS_AHEAD); f.requested++) this.request(f, f.dirOrder[f.requested]!);
    if (!near) return;
    f.started = Math.max(f.started, f.dirHead);
    for (; f.started < Math.min(f.dirOrder.length, f.dirHead + NEAR_DIRS); f.started++) {
      f.dirs.get(f.dirOrder[f.started]!)!.promise.then((sub) => this.fill(sub, false), noop);
    }
  }

  /** Starts reading the frame of subdirectory entry `i` of `f`. */
  private request(f: Frame, i: number): void {
    const slot: DirSlot = { promise: this.frame(f.entries[i] as DirNode), frame: null };
    // Awaited when the writer gets there (or never, if it stops before).
    slot.promise.then((sub) => { slot.frame = sub; }, noop);
    f.dirs.set(i, slot);
  }

  private issue(f: Frame, limit: number): void {
    const start = f.fetched;
    const files: FileNode[] = [];
    const slot = new Int32Array(limit - start).fill(-1);
    let bytes = 0;
    let j = start;
    for (; j < limit && bytes < WINDOW_BYTES; j++) {
      const e = f.entries[j]!;
      if (e.type === 'directory') {
        f.dirOrder.push(j);
      } else if (e.type === 'file' && e.size <= SMALL_FILE) {
        slot[j - start] = files.length;
        files.push(e);
        bytes += e.size;
      }
    }
    f.fetched = j;
    if (files.length === 0) return;
    const blobs = this.cas.blobs;
    const unchecked = blobs.readMany !== undefined;
    const data = unchecked ? blobs.readMany!(files.map((e) => e.digest), { unchecked }) : Promise.all(files.map((e) => blobs.read(e.digest, 0, e.size)));
    const batch: Batch = { start, end: j, slot, data, values: null, unchecked };
    batch.data.then((v) => { batch.values = v; }, noop);
    f.batches.push(batch);
  }
}

/**
 * A large file's contents: its stream is opened and its first piece asked for now, before the
 * output gets there; the pieces are checked against the entry's size as they come.
 */
function openLarge(cas: CaStore, node: FileNode, transient: boolean): AsyncIterable<Buffer> {
  const it = cas.blobs.open(node.digest, { transient }).then((s) => {
    if (!s) throw missing('blob', node);
    return s[Symbol.asyncIterator]();
  });
  const first = it.then((i) => i.next());
  first.catch(noop); // awaited when the output gets there (or never, if it stops before)
  return (async function* () {
    const i = await it;
    let got = 0;
    for (let r = await first; !r.done; r = await i.next()) {
      got += r.value.length;
      if (got > node.size) throw sizeMismatch(node, got);
      yield r.value;
    }
    if (got !== node.size) throw sizeMismatch(node, got);
  })();
}

export interface DumpOptions {
  /**
   * The consumer is done with each buffer before it asks for the next (it writes it out
   * synchronously, or hashes it): output and read buffers are then reused, not allocated per piece.
   */
  transient?: boolean;
}

/** Writes a file's header; the contents and FILE_TAIL follow. */
function fileHead(out: NarOut, n: FileNode): void {
  out.put(n.executable ? EXEC_FILE_HEAD : FILE_HEAD);
  out.putU64(n.size);
}

/** Writes an entry's head up to its node's type. */
function entryHead(out: NarOut, name: Buffer): void {
  out.put(ENTRY_HEAD);
  out.putString(name);
  out.put(NODE_OPEN);
}

/** The output has buffers to hand out before more is written. */
const FULL = Symbol('full');

/**
 * The writer's place in a directory tree. `run` writes entries synchronously for as long as it
 * can: an await per file (the previous writer's loop) cost a promise and a generator resumption
 * each, and made the async generator that held the loop a large function for V8 to optimise
 * (TurboFan spent ~146 ms of a bench dump's background CPU on it). A large file's stream is
 * inserted into the output, and the writer goes on past it.
 */
class Walker {
  private readonly stack: Frame[] = [];

  constructor(private readonly cas: CaStore, private readonly out: NarOut, private readonly fetcher: Fetcher, private readonly transient: boolean, root: Frame) {
    this.stack.push(root);
    fetcher.fill(root);
  }

  /**
   * Writes entries until the tree is written (null), the output is as far ahead as it may get
   * (FULL), or something not yet read is needed (a promise: await it and call again).
   */
  run(): Promise<unknown> | typeof FULL | null {
    const out = this.out;
    while (this.stack.length) {
      if (out.full) return FULL;
      const f = this.stack[this.stack.length - 1]!;
      const i = f.next;
      if (i === f.entries.length) {
        this.stack.pop();
        // The directory node, and the entry that held it (the root has none).
        out.put(this.stack.length ? CLOSE2 : NAR_TOKENS.close);
        continue;
      }
      this.fetcher.fill(f);
      const e = f.entries[i]!;
      if (e.type === 'directory') {
        const slot = f.dirs.get(i)!;
        if (!slot.frame) return slot.promise;
        f.dirs.delete(i);
        f.next++;
        entryHead(out, f.names[i]!);
        out.put(NAR_TOKENS.typeDirectory);
        this.stack.push(slot.frame);
        this.fetcher.fill(slot.frame);
      } else if (e.type === 'symlink') {
        f.next++;
        entryHead(out, f.names[i]!);
        out.put(NAR_TOKENS.typeSymlink);
        out.putString(Buffer.from(e.target, 'utf8'));
        out.put(CLOSE2);
      } else if (e.size <= SMALL_FILE) {
        const wait = smallFile(out, f, i, e);
        if (wait) return wait;
      } else {
        f.next++;
        entryHead(out, f.names[i]!);
        fileHead(out, e);
        out.insert(openLarge(this.cas, e, this.transient));
        out.put(FILE_TAIL[narPad(e.size)]!);
      }
    }
    return null;
  }
}

/** Writes small file `i` of `f` whole (its batch was issued by `fill`), or returns its batch's read to await first. */
function smallFile(out: NarOut, f: Frame, i: number, e: FileNode): Promise<unknown> | null {
  while (f.batches[0]!.end <= i) f.batches.shift();
  const b = f.batches[0]!;
  if (!b.values) return b.data;
  const v = b.values[b.slot[i - b.start]!];
  if (!v) throw missing('blob', e);
  if (v.length !== e.size) throw sizeMismatch(e, v.length);
  f.next++;
  entryHead(out, f.names[i]!);
  fileHead(out, e);
  if (b.unchecked) out.putUnchecked(v, e.digest, e.name);
  else out.put(v);
  out.put(FILE_TAIL[narPad(e.size)]!);
  return null;
}

/**
 * Runs the walker whenever it can go on (a read it waited for is done, or the output took
 * something), independently of the consumer: the writer renders the files after a large one while
 * that one's chunks are read and checked. The output side waits on `progress` for more.
 */
class Pump {
  private waiting = false;
  private done = false;
  private error: { e: unknown } | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(private readonly walker: Walker, private readonly out: NarOut) {}

  /** Writes as far as the walker can go now. */
  run(): void {
    if (this.waiting || this.done || this.error || this.stopped) return;
    try {
      const r = this.walker.run();
      if (r === null) {
        this.out.finish();
        this.done = true;
      } else if (r !== FULL) {
        this.waiting = true;
        r.then(() => { this.waiting = false; this.run(); }, (e: unknown) => { this.error = { e }; this.notify(); });
      }
    } catch (e) {
      this.error = { e };
    }
    this.notify();
  }

  /** Settles when the walker has written more, finished or failed. */
  progress(): Promise<void> {
    return new Promise((resolve) => { this.wake = resolve; });
  }

  /** Nothing more is waiting in the output: whether the walker is done (throws its error if it failed). */
  finished(): boolean {
    if (this.error) throw this.error.e;
    return this.done;
  }

  stop(): void {
    this.stopped = true;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * The NAR serialisation of a castore node, as a stream of buffers (the consumer may keep them
 * but must not modify them: large pieces may be the blob service's own cached chunks). Throws
 * NotFoundError for a missing directory or blob and CorruptionError for a blob whose size
 * differs from its entry or whose bytes do not match its digest.
 */
export async function* dumpNar(cas: CaStore, node: Node, opts: DumpOptions = {}): AsyncIterable<Buffer> {
  const transient = opts.transient === true;
  const out = new NarOut(transient);
  out.put(NAR_TOKENS.magic);
  out.put(NAR_TOKENS.open);
  if (node.type !== 'directory') {
    await leaf(out, cas, node, transient);
    out.put(NAR_TOKENS.close);
    yield* out.drain();
    return;
  }
  out.put(NAR_TOKENS.typeDirectory);
  const fetcher = new Fetcher(cas);
  const pump = new Pump(new Walker(cas, out, fetcher, transient, await fetcher.frame(node)), out);
  try {
    for (;;) {
      pump.run();
      if (out.waiting) yield* out.emitOne();
      else if (pump.finished()) return;
      else await pump.progress();
    }
  } finally {
    pump.stop();
  }
}

/** A symlink or file root node (after its '(') up to and without its closing ')'. */
async function leaf(out: NarOut, cas: CaStore, n: FileNode | (Node & { type: 'symlink' }), transient: boolean): Promise<void> {
  if (n.type === 'symlink') {
    out.put(NAR_TOKENS.typeSymlink);
    out.putString(Buffer.from(n.target, 'utf8'));
    return;
  }
  fileHead(out, n);
  if (n.size <= SMALL_FILE) {
    const b = await cas.blobs.read(n.digest, 0, n.size);
    if (!b) throw missing('blob', n);
    if (b.length !== n.size) throw sizeMismatch(n, b.length);
    out.put(b);
  } else {
    out.insert(openLarge(cas, n, transient));
  }
  out.put(ZERO8.subarray(0, narPad(n.size)));
}
