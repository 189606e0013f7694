// Copying closures between a source (a tsix store or binary caches) and a destination (a tsix
// store or a writable binary cache): plan the closure, skip what the destination has, transfer
// NARs in parallel, and write each path's metadata only after all its references' metadata.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashMismatchError, NotFoundError } from '../errors.js';
import { logger } from '../log.js';
import { dumpNar } from '../nix/nar-dump.js';
import type { PathInfo } from '../pathinfo/path-info.js';
import type { Store } from '../store.js';
import { compress, COMPRESSION_EXTENSIONS, CompressionError, decompress, isCompression } from './compression.js';
import { formatSha256 } from './hash-text.js';
import { hashPartOf } from './narinfo.js';
import { checkCaContents, importVerifiedNar } from './nar-verify.js';
import { checkTrust, metaToNarInfo, narInfoToMeta, withSignature, type PathMeta, type TrustPolicy } from './path-meta.js';
import type { SecretKey } from './signing.js';
import { SignatureError } from './signing.js';
import type { BinaryCacheWriter, Substituter } from './substituter.js';
import { encodeBase32 } from '../nix/base32.js';

const log = logger('transfer');

export type Trust = 'signed' | 'content-addressed' | 'unchecked';

/** A path found in a source, ready to be transferred. */
export interface SourcePath {
  meta: PathMeta;
  /** Where it was found (for messages). */
  from: string;
  /** Why it may be accepted. */
  trust: Trust;
  /** The uncompressed NAR. */
  openNar(): Promise<AsyncIterable<Buffer>>;
  /**
   * The same path from the next source that has it acceptably (as Nix falls back to the next
   * substituter when a download fails); null when there is none. Absent for single sources.
   */
  fallback?: () => Promise<SourcePath | null>;
}

export interface PathSource {
  readonly name: string;
  /** The path with this hash part, or null if absent. Throws SignatureError if present but not trusted. */
  lookup(hashPart: string): Promise<SourcePath | null>;
}

export interface PathDestination {
  readonly name: string;
  /** Whether the destination has the path (and, if `closed`, its whole closure). */
  has(hashPart: string): Promise<boolean>;
  /** True when having a path implies having its closure (a tsix store's invariant). */
  readonly closed: boolean;
  /**
   * Transfers a path: stores its contents (verifying them against `p.meta`), calls `stored`,
   * then waits for `referencesDone` and writes its metadata last.
   */
  add(p: SourcePath, referencesDone: Promise<void>, progress: (bytes: number) => void, stored?: () => void): Promise<void>;
}

// ---- sources ---------------------------------------------------------------------------------

/** A tsix store as a source: trusted as it is (it verified what it stored). */
export class StoreSource implements PathSource {
  readonly name: string;
  constructor(private readonly store: Store) { this.name = store.url; }
  async lookup(hashPart: string): Promise<SourcePath | null> {
    const info = await this.store.pathInfos.get(hashPart);
    if (!info) return null;
    const { node, registrationTime: _r, ...meta } = info;
    return { meta, from: this.name, trust: 'unchecked', openNar: async () => dumpNar(this.store, node) };
  }
}

/** Binary caches in priority order: the first one with a path that `policy` accepts wins. */
export class CacheSource implements PathSource {
  readonly name: string;
  constructor(private readonly caches: Substituter[], private readonly policy: TrustPolicy) {
    this.name = caches.map((c) => c.url).join(' ');
  }
  lookup(hashPart: string): Promise<SourcePath | null> {
    return this.lookupFrom(hashPart, 0, null);
  }

  private async lookupFrom(hashPart: string, start: number, rejected: SignatureError | null): Promise<SourcePath | null> {
    let answered = 0;
    let failure: unknown = null;
    for (let i = start; i < this.caches.length; i++) {
      const cache = this.caches[i]!;
      let ni;
      try {
        ni = await cache.queryNarInfo(hashPart);
      } catch (err) {
        // As Nix: a cache that cannot be asked is skipped (with a warning), the others still count.
        log.warn({ cache: cache.url, err: (err as Error).message }, 'binary cache lookup failed');
        failure ??= err;
        continue;
      }
      answered++;
      if (!ni) continue;
      const meta = narInfoToMeta(ni);
      if (hashPartOf(meta.path) !== hashPart) {
        rejected ??= new SignatureError(`'${cache.url}' answered the query for '${hashPart}' with the narinfo of '${meta.path}'`);
        continue;
      }
      const trust = checkTrust(meta, this.policy, cache.url);
      if (trust instanceof SignatureError) { rejected ??= trust; continue; }
      return {
        meta, from: cache.url, trust,
        openNar: async () => {
          const file = await cache.fetchNar(ni);
          // An uncompressed file whose FileHash is the NarHash is checked by the NAR hash check already.
          const fileHash = ni.compression === 'none' && ni.fileHash?.equals(ni.narHash) ? null : ni.fileHash;
          return decompress(ni.compression, checkFile(file, fileHash, ni.fileSize, `${cache.url}/${ni.url}`, meta.path));
        },
        fallback: () => this.lookupFrom(hashPart, i + 1, null),
      };
    }
    if (rejected) throw rejected;
    if (answered === 0 && failure !== null) throw failure; // nobody could be asked: not the same as "absent"
    return null;
  }
}

/** The compressed file must match FileSize/FileHash when the narinfo gives them. */
async function* checkFile(src: AsyncIterable<Buffer>, fileHash: Buffer | null, fileSize: number | null, url: string, path: string): AsyncIterable<Buffer> {
  const h = fileHash ? createHash('sha256') : null;
  let n = 0;
  for await (const c of src) {
    n += c.length;
    if (fileSize !== null && n > fileSize) throw new HashMismatchError(`size of '${url}' (NAR file of '${path}')`, String(fileSize), `more than ${fileSize} bytes`, { path });
    h?.update(c);
    yield c;
  }
  if (fileSize !== null && n !== fileSize) throw new HashMismatchError(`size of '${url}' (NAR file of '${path}')`, String(fileSize), String(n), { path });
  if (h && fileHash) {
    const got = h.digest();
    if (!got.equals(fileHash)) throw new HashMismatchError(`file '${url}' (NAR file of '${path}')`, formatSha256(fileHash), formatSha256(got), { path });
  }
}

// ---- destinations ----------------------------------------------------------------------------

export interface StoreDestinationOptions {
  /** Sign each added path with this key. */
  secretKey?: SecretKey | null;
}

/** A tsix store as a destination: contents verified against narHash/narSize, PathInfo last. */
export class StoreDestination implements PathDestination {
  readonly name: string;
  readonly closed = true;
  constructor(private readonly store: Store, private readonly opts: StoreDestinationOptions = {}) { this.name = store.url; }
  async has(hashPart: string): Promise<boolean> {
    return (await this.store.pathInfos.get(hashPart)) !== null;
  }
  async add(p: SourcePath, referencesDone: Promise<void>, progress: (bytes: number) => void, stored?: () => void): Promise<void> {
    const node = await importVerifiedNar(this.store, counted(await p.openNar(), progress), p.meta);
    if (p.trust === 'content-addressed') await checkCaContents(this.store, p.meta, node);
    stored?.();
    await referencesDone;
    let info: PathInfo = { ...p.meta, node, registrationTime: Math.floor(Date.now() / 1000) };
    if (this.opts.secretKey) info = withSignature(info, this.opts.secretKey);
    await this.store.pathInfos.put(info);
  }
}

export interface CacheDestinationOptions {
  /** NAR compression (Nix's default for binary caches: xz). */
  compression?: string;
  /** Sign narinfos with this key (Nix's `?secret-key=`). */
  secretKey?: SecretKey | null;
}

/** A writable binary cache: NAR compressed into nar/<filehash>.nar<ext>, then the narinfo. */
export class CacheDestination implements PathDestination {
  readonly name: string;
  readonly closed = false;
  private readonly compression: string;
  constructor(private readonly cache: BinaryCacheWriter, private readonly opts: CacheDestinationOptions = {}) {
    this.name = cache.url;
    this.compression = opts.compression ?? 'xz';
    if (!isCompression(this.compression)) throw new CompressionError(`unsupported compression method '${this.compression}'`);
  }
  has(hashPart: string): Promise<boolean> {
    return this.cache.hasNarInfo(hashPart);
  }
  async add(p: SourcePath, referencesDone: Promise<void>, progress: (bytes: number) => void, stored?: () => void): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'tsix-nar-'));
    try {
      const tmp = join(dir, 'nar');
      const narH = createHash('sha256');
      let narSize = 0;
      const nar = await p.openNar();
      const hashed = (async function* () {
        for await (const c of nar) { narH.update(c); narSize += c.length; progress(c.length); yield c; }
      })();
      const fileH = createHash('sha256');
      let fileSize = 0;
      const fh = await open(tmp, 'w');
      try {
        for await (const c of compress(this.compression, hashed)) { fileH.update(c); fileSize += c.length; await fh.write(c); }
      } finally {
        await fh.close();
      }
      const narHash = narH.digest();
      if (narSize !== p.meta.narSize || !narHash.equals(p.meta.narHash)) {
        throw new HashMismatchError(`NAR of '${p.meta.path}'`, `${formatSha256(p.meta.narHash)} (${p.meta.narSize} bytes)`, `${formatSha256(narHash)} (${narSize} bytes)`);
      }
      const fileHash = fileH.digest();
      const url = `nar/${encodeBase32(fileHash)}.nar${COMPRESSION_EXTENSIONS[this.compression as keyof typeof COMPRESSION_EXTENSIONS]}`;
      await this.cache.putFile(url, createReadStream(tmp, { highWaterMark: 1 << 20 }), contentTypeOf(this.compression), fileSize);
      stored?.();
      await referencesDone;
      let meta = p.meta;
      if (this.opts.secretKey) meta = withSignature(meta, this.opts.secretKey);
      await this.cache.putNarInfo(metaToNarInfo(meta, { url, compression: this.compression, fileHash, fileSize }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function contentTypeOf(compression: string): string {
  return compression === 'none' ? 'application/x-nix-nar' : compression === 'xz' ? 'application/x-xz' : 'application/octet-stream';
}

async function* counted(src: AsyncIterable<Buffer>, progress: (n: number) => void): AsyncIterable<Buffer> {
  for await (const c of src) { progress(c.length); yield c; }
}

// ---- the copy --------------------------------------------------------------------------------

export type TransferEvent =
  | { kind: 'planned'; paths: string[]; narBytes: number }
  | { kind: 'start'; path: string; from: string }
  | { kind: 'bytes'; path: string; bytes: number }
  | { kind: 'done'; path: string };

export interface CopyOptions {
  /** Parallel transfers (default 4). */
  jobs?: number;
  onEvent?: (e: TransferEvent) => void;
}

export interface CopyResult {
  /** Paths transferred, references first. */
  copied: string[];
  /** Paths of the closure the destination already had. */
  present: string[];
}

/**
 * Copies the closures of `roots` (full store paths) from `source` to `dest`. Transfers start as
 * soon as their paths are found, while the rest of the closure is still being looked up; each
 * path's metadata is written only after the whole closure was found (a closure with a path
 * nobody has registers nothing) and after its references' metadata. A transfer holds one of the
 * `jobs` slots while its contents are fetched and stored, not while it waits to register.
 */
export async function copyClosure(source: PathSource, dest: PathDestination, roots: string[], opts: CopyOptions = {}): Promise<CopyResult> {
  const emit = opts.onEvent ?? (() => {});
  const jobs = Math.max(1, opts.jobs ?? 4);
  const registered = new Registrations();
  const queue = new FoundQueue();
  const plan = planClosure(source, dest, roots, (sp) => queue.push(sp), (path) => registered.of(path).resolve());
  // Where each path stands in the plan's order: a reference is waited for only when it comes
  // first (a cycle, which Nix forbids, must not leave two paths waiting for each other).
  const position = plan.then((pl) => new Map(pl.order.map((p, i) => [p.meta.path, i])));
  position.catch(() => {}); // observed below and by each registration
  plan.then((pl) => emit({ kind: 'planned', paths: pl.order.map((p) => p.meta.path), narBytes: pl.order.reduce((n, p) => n + p.meta.narSize, 0) }), () => {});
  plan.finally(() => queue.end()).catch(() => {});
  const tasks: Promise<void>[] = [];
  let failure: unknown = null;
  const worker = async () => {
    for (let p = await queue.next(); p && failure === null; p = await queue.next()) {
      const path = p.meta.path;
      const refs = p.meta.references.filter((r) => r !== path);
      const refsDone = position.then((at) => Promise.all(refs.filter((r) => (at.get(r) ?? -1) < at.get(path)!).map((r) => registered.of(r).promise))).then(() => undefined);
      refsDone.catch(() => {}); // observed later by the transfer; never an unhandled rejection meanwhile
      let stored!: () => void;
      const contentIn = new Promise<void>((res) => { stored = res; });
      const mine = registered.of(p.meta.path);
      const task = transferOne(p, dest, refsDone, emit, stored).then(mine.resolve, (err: unknown) => { mine.reject(err); failure ??= err; });
      tasks.push(task);
      await Promise.race([contentIn, task]);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const pl = await plan; // a failed plan is the copy's failure
  await Promise.all(tasks);
  if (failure !== null) throw failure;
  return { copied: pl.order.map((p) => p.meta.path), present: pl.present };
}

/** Per path, a promise settled when its metadata is in the destination (or it was there already). */
class Registrations {
  private readonly map = new Map<string, { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void }>();
  of(path: string): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
    let d = this.map.get(path);
    if (!d) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      promise.catch(() => {}); // a failed path is reported once, by its own transfer
      d = { promise, resolve, reject };
      this.map.set(path, d);
    }
    return d;
  }
}

/** Paths found by the plan, waiting for a transfer slot; `next` is null once the plan ended and all were taken. */
class FoundQueue {
  private readonly items: SourcePath[] = [];
  private readonly waiting: ((p: SourcePath | null) => void)[] = [];
  private ended = false;
  push(p: SourcePath): void {
    const w = this.waiting.shift();
    if (w) w(p); else this.items.push(p);
  }
  end(): void {
    this.ended = true;
    for (const w of this.waiting.splice(0)) w(null);
  }
  next(): Promise<SourcePath | null> {
    const p = this.items.shift();
    if (p) return Promise.resolve(p);
    if (this.ended) return Promise.resolve(null);
    return new Promise((res) => this.waiting.push(res));
  }
}

/** Transfers one path, falling back to the next source on failure (a failed transfer registers nothing). */
async function transferOne(p: SourcePath, dest: PathDestination, refsDone: Promise<void>, emit: (e: TransferEvent) => void, stored: () => void): Promise<void> {
  let first: unknown = null;
  for (let cand: SourcePath | null = p; cand; cand = cand.fallback ? await cand.fallback().catch(() => null) : null) {
    // The plan waited for p's references; another source's version must have the same ones.
    if (cand !== p && cand.meta.references.join(' ') !== p.meta.references.join(' ')) continue;
    try {
      emit({ kind: 'start', path: cand.meta.path, from: cand.from });
      await dest.add(cand, refsDone, (bytes) => emit({ kind: 'bytes', path: p.meta.path, bytes }), stored);
      emit({ kind: 'done', path: p.meta.path });
      return;
    } catch (err) {
      first ??= err;
      if (await refsDone.then(() => false, () => true)) break; // a reference failed: retrying cannot help
    }
  }
  throw first;
}

/**
 * The missing part of the closure, references before referrers (the order reported as copied).
 * Each missing path is handed to `found` as soon as it is looked up, each path the destination
 * has to `present`.
 */
async function planClosure(source: PathSource, dest: PathDestination, roots: string[], found_: (sp: SourcePath) => void, present_: (path: string) => void): Promise<{ order: SourcePath[]; present: string[] }> {
  const found = new Map<string, SourcePath>();
  const present: string[] = [];
  const seen = new Set<string>();
  let frontier = [...new Set(roots)];
  while (frontier.length > 0) {
    const batch = frontier.filter((p) => !seen.has(p));
    for (const p of batch) seen.add(p);
    frontier = [];
    const results = await mapLimit(batch, 16, async (path) => {
      const hp = hashPartOf(path);
      if (dest.closed && await dest.has(hp)) { present_(path); return { path, sp: null, present: true }; }
      const sp = await source.lookup(hp);
      if (!sp) throw new NotFoundError(`path '${path}' in ${source.name}`, { path });
      if (!dest.closed && await dest.has(hp)) { present_(path); return { path, sp, present: true }; }
      found_(sp);
      return { path, sp, present: false };
    });
    for (const r of results) {
      if (r.present) present.push(r.path);
      else found.set(r.path, r.sp!);
      if (r.sp) for (const ref of r.sp.meta.references) if (!seen.has(ref)) frontier.push(ref);
    }
  }
  // Topological order (references first), deterministic by path name.
  const order: SourcePath[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (path: string) => {
    const sp = found.get(path);
    if (!sp || state.get(path) === 2) return;
    if (state.get(path) === 1) return; // a reference cycle other than a self-reference: Nix forbids them; keep going
    state.set(path, 1);
    for (const r of [...sp.meta.references].sort()) if (r !== path) visit(r);
    state.set(path, 2);
    order.push(sp);
  };
  for (const p of [...found.keys()].sort()) visit(p);
  return { order, present };
}

async function mapLimit<T, R>(items: T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) { const k = i++; out[k] = await f(items[k]!); }
  }));
  return out;
}
