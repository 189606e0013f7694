// One instantiation run: the derivations, sources and text files an evaluation creates, with the
// paths Nix 2.8 would give them. Paths are known at once (evaluation is synchronous here);
// everything is written into the store by `flush`, .drv files as text paths and the output →
// derivation index in the MetaService.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { TsixError } from '../../store/errors.js';
import { encodeBase32 } from '../../store/nix/base32.js';
import { formatContentAddress } from '../../store/nix/content-address.js';
import { compressHash, parseHash, sha256, type NixHash } from '../../store/nix/hash.js';
import { narLength, narPadding, NAR_TOKENS } from '../../store/nix/nar-format.js';
import {
  checkStorePathName, DEFAULT_STORE_DIR, makeFixedOutputPath, makeTextPath, makeType, parseStorePath, storePathHashPart,
} from '../../store/nix/store-path.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { drvNameFromPath, unparseDerivation, type Derivation, type DerivationOutput } from './derivation.js';
import {
  derivationReferences, derivationStorePath, DerivationHasher, derivationType, inputAddressedOutputPath,
} from './hash-modulo.js';
import { hashPlaceholder } from './placeholder.js';
import { hashFlatFile, hashSourceTree, type SourceFileType, type SourceFilter } from './source-hash.js';
import { hostPathOf } from '../ifd/store-reads.js';
import { downloadSync, unpackTarball } from './fetch.js';

/** An evaluation error raised by derivation primops (code E_EVAL), with Nix's wording. */
export class DerivationEvalError extends TsixError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_EVAL', message, data);
  }
}

const WRITE_CONCURRENCY = 64;

/** Meta key prefix of the output path → .drv path index. */
export const DRV_OUT_PREFIX = 'drv-out:';

/** What derivationStrict has gathered from the attribute set, before paths are computed. */
export interface DerivationSpec {
  name: string;
  builder: string;
  system: string;
  args: string[];
  /** Environment as coerced (first value of a key wins); output variables are set here. */
  env: Map<string, string>;
  /** Output names (default ['out']). */
  outputs: string[];
  outputHash: string | null;
  outputHashAlgo: string;
  outputHashMode: 'flat' | 'recursive' | null;
  /** String context of every value: `/nix/store/…`, `=/nix/store/….drv`, `!<out>!/nix/store/….drv`. */
  context: Iterable<string>;
  /** Set with __structuredAttrs: the JSON text for `__json`. */
  structuredJson: string | null;
}

export interface Instantiated {
  drvPath: string;
  /** Output name → output path, in output name order. */
  outputs: Map<string, string>;
}

interface PendingText { contents: string | Buffer; references: string[]; ca?: string; sha256?: Buffer }
interface PendingSource { fsPath: string; excluded: Set<string>; narHash: Buffer; narSize: number; ca: string }

/** Writes not done yet, as handed from one session to another (an evaluation in a worker thread to the main thread's). */
export interface PendingWrites { texts: [string, PendingText][]; sources: [string, PendingSource][]; outputIndex: [string, string][]; tmpDirs: string[] }

export interface SessionOptions {
  /** Reads a derivation that this session did not create (e.g. from the store), or null. */
  loadDerivation?: (drvPath: string) => Derivation | null;
  /** References of a store path this session did not create, or null if unknown. */
  queryReferences?: (path: string) => string[] | null;
}

export class InstantiationSession {
  readonly hasher: DerivationHasher;
  /** .drv path → derivation (created here or loaded). */
  readonly drvs = new Map<string, Derivation>();
  /** Text files (.drv and toFile) to write, by store path. */
  private readonly texts = new Map<string, PendingText>();
  private readonly sources = new Map<string, PendingSource>();
  private readonly refs = new Map<string, string[]>();
  /** Cache of copied sources: `<method>:<name>:<fsPath>` → store path (Nix's srcToStore). */
  private readonly srcToStore = new Map<string, string>();
  /** Output path → .drv path for every instantiated derivation. */
  readonly outputIndex = new Map<string, string>();
  /** Unpacked tarballs, removed once flushed. */
  private readonly tmpDirs: string[] = [];

  constructor(private readonly opts: SessionOptions = {}) {
    this.hasher = new DerivationHasher((p) => this.derivation(p));
  }

  /** A derivation by .drv path (this session's or loaded), throwing if unknown. */
  derivation(drvPath: string): Derivation {
    let d = this.drvs.get(drvPath);
    if (!d) {
      d = this.opts.loadDerivation?.(drvPath) ?? undefined;
      if (!d) throw new DerivationEvalError(`derivation '${drvPath}' is not known (it is neither instantiated in this evaluation nor in the store)`, { drvPath });
      this.drvs.set(drvPath, d);
    }
    return d;
  }

  /** References of a store path known to this session (or the store). */
  references(path: string): string[] {
    const r = this.refs.get(path) ?? this.opts.queryReferences?.(path) ?? null;
    if (r === null) throw new DerivationEvalError(`path '${path}' is not valid (its references are unknown)`, { path });
    return r;
  }

  /** Nix's computeFSClosure (without outputs): the path and everything it references, transitively. */
  closure(path: string): Set<string> {
    const seen = new Set<string>();
    const stack = [path];
    while (stack.length) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      for (const r of this.references(p)) if (!seen.has(r)) stack.push(r);
    }
    return seen;
  }

  /** Builds, hashes and records a derivation the way prim_derivationStrict does. */
  instantiate(spec: DerivationSpec): Instantiated {
    const drv: Derivation = {
      name: spec.name,
      outputs: new Map(),
      inputDrvs: new Map(),
      inputSrcs: new Set(),
      system: spec.system,
      builder: spec.builder,
      args: spec.args,
      env: spec.env,
    };
    if (spec.structuredJson !== null) drv.env.set('__json', spec.structuredJson);
    this.addContext(drv, spec.context);

    const where = { name: spec.name };
    if (drv.builder === '') throw new DerivationEvalError(`required attribute 'builder' missing`, where);
    if (drv.system === '') throw new DerivationEvalError(`required attribute 'system' missing`, where);
    if (spec.name.endsWith('.drv')) throw new DerivationEvalError(`derivation names are not allowed to end in '.drv'`, where);

    if (spec.outputHash !== null) this.fixedOutput(drv, spec);
    else this.inputAddressed(drv, spec.outputs);

    const aterm = unparseDerivation(drv);
    const refs = derivationReferences(drv);
    const digest = sha256(aterm);
    const drvPath = derivationStorePath(drv, aterm, refs, digest);
    this.drvs.set(drvPath, drv);
    this.refs.set(drvPath, refs);
    this.texts.set(drvPath, { contents: aterm, references: refs, sha256: digest });
    this.hasher.remember(drvPath, this.hasher.hashModulo(drv, false));
    const outputs = new Map<string, string>();
    for (const [name, o] of drv.outputs) {
      outputs.set(name, o.path);
      this.outputIndex.set(o.path, drvPath);
    }
    return { drvPath, outputs };
  }

  private addContext(drv: Derivation, context: Iterable<string>): void {
    for (const c of context) {
      if (c.startsWith('=')) {
        // The builder gets the .drv path itself, so the whole graph must be its input.
        for (const j of this.closure(c.slice(1))) {
          drv.inputSrcs.add(j);
          if (j.endsWith('.drv')) drv.inputDrvs.set(j, new Set(this.derivation(j).outputs.keys()));
        }
      } else if (c.startsWith('!')) {
        const bang = c.indexOf('!', 1);
        const out = c.slice(1, bang);
        const p = c.slice(bang + 1);
        let s = drv.inputDrvs.get(p);
        if (!s) drv.inputDrvs.set(p, (s = new Set()));
        s.add(out);
      } else {
        drv.inputSrcs.add(c);
      }
    }
  }

  private fixedOutput(drv: Derivation, spec: DerivationSpec): void {
    if (spec.outputs.length !== 1 || spec.outputs[0] !== 'out') {
      throw new DerivationEvalError('multiple outputs are not supported in fixed-output derivations', { name: spec.name });
    }
    const hash = parseOutputHash(spec.outputHash!, spec.outputHashAlgo);
    const method = spec.outputHashMode ?? 'flat';
    const path = makeFixedOutputPath(method, hash, checkedName(spec.name));
    drv.env.set('out', path);
    drv.outputs.set('out', { path, hashAlgo: (method === 'recursive' ? 'r:' : '') + hash.algo, hash: hash.digest.toString('hex') });
  }

  private inputAddressed(drv: Derivation, outputs: string[]): void {
    for (const o of outputs) {
      drv.env.set(o, '');
      drv.outputs.set(o, { path: '', hashAlgo: '', hash: '' });
    }
    checkedName(drv.name);
    const h = this.hasher.hashModulo(drv, true);
    if (h.deferred) return; // an input is a floating CA derivation: outputs stay deferred
    for (const o of outputs) {
      const path = inputAddressedOutputPath(drv.name, o, h.hashes.get(o)!);
      drv.env.set(o, path);
      (drv.outputs.get(o) as DerivationOutput).path = path;
    }
  }

  // ---- sources -------------------------------------------------------------------------------

  /** Nix's copyPathToStore: a path value used as a string becomes `/nix/store/<h>-<basename>`. */
  copyPathToStore(fsPath: string): string {
    if (fsPath.endsWith('.drv')) throw new DerivationEvalError(`file names are not allowed to end in '.drv'`, { path: fsPath });
    const base = fsPath === '/' ? '' : fsPath.slice(fsPath.lastIndexOf('/') + 1);
    return this.addPath({ fsPath, name: base, recursive: true, filter: null, expectedSha256: null });
  }

  /**
   * Nix's addPath (builtins.path, filterSource): adds `fsPath` under `name`, recursive (NAR
   * sha256) or flat (file sha256), keeping only what `filter` accepts; with `expectedSha256` the
   * result must match it.
   */
  addPath(a: { fsPath: string; name: string; recursive: boolean; filter: SourceFilter | null; expectedSha256: NixHash | null }): string {
    const key = `${a.recursive ? 'r' : 'f'}:${a.name}:${a.fsPath}`;
    const cached = a.filter === null ? this.srcToStore.get(key) : undefined;
    if (cached) return cached;
    checkedName(a.name, a.fsPath);
    // A path inside the store is read where the tsix store is mounted (import from derivation);
    // the filter still sees the paths as the evaluation names them.
    const fsPath = hostPathOf(a.fsPath);
    const filter = a.filter && fsPath !== a.fsPath ? (p: string, t: SourceFileType) => a.filter!(a.fsPath + p.slice(fsPath.length), t) : a.filter;
    let path: string;
    let pending: PendingSource;
    if (a.recursive) {
      const h = hashSourceTree(fsPath, filter);
      const ca: NixHash = { algo: 'sha256', digest: h.narHash };
      path = makeFixedOutputPath('recursive', ca, a.name);
      pending = { fsPath, excluded: new Set(h.excluded), narHash: h.narHash, narSize: h.narSize, ca: formatContentAddress({ type: 'fixed', method: 'recursive', hash: ca }) };
    } else {
      const digest = hashFlatFile(fsPath, 'sha256');
      const ca: NixHash = { algo: 'sha256', digest };
      path = makeFixedOutputPath('flat', ca, a.name);
      const t = hashSourceTree(fsPath, null);
      pending = { fsPath, excluded: new Set(), narHash: t.narHash, narSize: t.narSize, ca: formatContentAddress({ type: 'fixed', method: 'flat', hash: ca }) };
    }
    if (a.expectedSha256) {
      const want = makeFixedOutputPath(a.recursive ? 'recursive' : 'flat', a.expectedSha256, a.name);
      if (want !== path) throw new DerivationEvalError(`store path mismatch in (possibly filtered) path added from '${a.fsPath}'`, { path: a.fsPath, expected: want, got: path });
    }
    this.sources.set(path, pending);
    this.refs.set(path, []);
    if (a.filter === null) this.srcToStore.set(key, path);
    return path;
  }

  /** builtins.toFile: a text path with references to the store paths in the contents' context. */
  toFile(name: string, contents: string, context: Iterable<string>): string {
    const refs = new Set<string>();
    for (const c of context) {
      if (c[0] !== '/') {
        throw new DerivationEvalError(`in 'toFile': the file named '${name}' must not contain a reference to a derivation but contains (${c})`, { name, context: c });
      }
      parseStorePath(c);
      refs.add(c);
    }
    const references = [...refs].sort();
    const digest = sha256(contents);
    // Nix checks the name as it makes the store path, so its message names '<hash>-<name>'.
    const fingerprint = `${makeType('text', references)}:sha256:${digest.toString('hex')}:${DEFAULT_STORE_DIR}:${name}`;
    checkedName(name, name, `${encodeBase32(compressHash(sha256(fingerprint), 20))}-${name}`);
    const path = makeTextPath(name, digest, references);
    this.texts.set(path, { contents, references });
    this.refs.set(path, references);
    return path;
  }

  /** Registers a store path known to exist (builtins.storePath) with its references. */
  knownPath(path: string, references: string[]): void {
    if (!this.refs.has(path)) this.refs.set(path, references);
  }

  /**
   * builtins.fetchurl: downloads `url` into a flat fixed-output path named `name` (default: the
   * URL's base name); with `expected` (sha256) the file's hash must match.
   */
  fetchurl(url: string, name: string | null, expected: NixHash | null): string {
    const n = checkedName(name ?? baseNameOfUrl(url), url);
    const data = downloadSync(url);
    const digest = sha256(data);
    if (expected && !digest.equals(expected.digest)) throw hashMismatch(url, expected, digest);
    const hash: NixHash = { algo: 'sha256', digest };
    const path = makeFixedOutputPath('flat', hash, n);
    this.texts.set(path, { contents: data, references: [], ca: formatContentAddress({ type: 'fixed', method: 'flat', hash }) });
    this.refs.set(path, []);
    return path;
  }

  /** builtins.fetchTarball: downloads and unpacks `url` (one top-level entry) as a source path named `name` (default "source"). */
  fetchTarball(url: string, name: string | null, expected: NixHash | null): string {
    const n = checkedName(name ?? 'source', url);
    const { tmpDir, top } = unpackTarball(url, downloadSync(url));
    this.tmpDirs.push(tmpDir);
    const path = this.addPath({ fsPath: top, name: n, recursive: true, filter: null, expectedSha256: null });
    const got = this.sources.get(path)?.narHash;
    if (expected && got && !got.equals(expected.digest)) throw hashMismatch(url, expected, got);
    return path;
  }

  /** Removes temporary files (unpacked tarballs) without writing anything; call when giving up. */
  dispose(): void {
    for (const d of this.tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }

  // ---- writing ---------------------------------------------------------------------------------

  /** Moves out what flush would write (for import-from-derivation from a worker: see eval/ifd/bridge.ts). */
  takePending(): PendingWrites {
    const p: PendingWrites = { texts: [...this.texts], sources: [...this.sources], outputIndex: [...this.outputIndex], tmpDirs: this.tmpDirs.splice(0) };
    this.texts.clear();
    this.sources.clear();
    this.outputIndex.clear();
    return p;
  }

  /** Adds writes taken from another session (after a structured clone: byte arrays become Buffers again). */
  addPending(p: PendingWrites): void {
    const bufs = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v])) as T;
    for (const [path, t] of p.texts) this.texts.set(path, bufs(t));
    for (const [path, s] of p.sources) this.sources.set(path, bufs(s));
    for (const [out, drv] of p.outputIndex) this.outputIndex.set(out, drv);
    this.tmpDirs.push(...p.tmpDirs);
  }

  /**
   * Writes every new text file, source and .drv into the store (skipping paths already there),
   * then the output → derivation index. Safe to call again; only new things are written.
   */
  async flush(store: Store): Promise<void> {
    const { ingestPath } = await import('../../store/import/ingest.js');
    for (const [path, s] of this.sources) {
      if (await store.pathInfos.get(storePathHashPart(path))) continue;
      const res = await ingestPath(store, s.fsPath, s.excluded.size ? { filter: (rel) => !s.excluded.has(rel) } : {});
      if (!res.narHash.equals(s.narHash)) throw new DerivationEvalError(`source '${s.fsPath}' changed while it was being added to the store`, { path: s.fsPath });
      await store.pathInfos.put({
        path, node: { ...res.node, name: '' } as PathInfo['node'], narHash: res.narHash, narSize: res.narSize,
        references: [], deriver: null, signatures: [], ca: s.ca, registrationTime: now(),
      });
    }
    this.sources.clear();
    for (const d of this.tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
    // A bounded number of writes in flight: enough to keep the backend busy, few enough not to
    // pile up thousands of pending buffers.
    const texts = [...this.texts];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < texts.length) {
        const [path, t] = texts[next++]!;
        await writeText(store, path, t);
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, texts.length) }, worker));
    this.texts.clear();
    const index: [string, Uint8Array][] = [];
    for (const [out, drv] of this.outputIndex) index.push([DRV_OUT_PREFIX + out, Buffer.from(drv)]);
    if (index.length) await store.meta.putMany(index);
    this.outputIndex.clear();
  }
}

function baseNameOfUrl(url: string): string {
  const u = url.replace(/\/+$/, '');
  return u.slice(u.lastIndexOf('/') + 1);
}

function hashMismatch(url: string, expected: NixHash, got: Buffer): TsixError {
  return new TsixError('E_HASH_MISMATCH', `hash mismatch in file downloaded from '${url}':\n  specified: sha256:${encodeBase32(expected.digest)}\n  got:       sha256:${encodeBase32(got)}`, { url });
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** A text store path: one non-executable file; ca `text:sha256:…`. */
async function writeText(store: Store, path: string, t: PendingText): Promise<void> {
  if (await store.pathInfos.get(storePathHashPart(path))) return;
  const bytes = typeof t.contents === 'string' ? Buffer.from(t.contents, 'utf8') : t.contents;
  const w = store.blobs.writer();
  await w.write(bytes);
  const { digest } = await w.close();
  const nar = createHash('sha256');
  nar.update(NAR_TOKENS.magic).update(NAR_TOKENS.open).update(NAR_TOKENS.typeRegular).update(NAR_TOKENS.contents)
    .update(narLength(bytes.length)).update(bytes).update(narPadding(bytes.length)).update(NAR_TOKENS.close);
  const narSize = NAR_TOKENS.magic.length + NAR_TOKENS.open.length + NAR_TOKENS.typeRegular.length + NAR_TOKENS.contents.length
    + 8 + bytes.length + narPadding(bytes.length).length + NAR_TOKENS.close.length;
  await store.pathInfos.put({
    path,
    node: { type: 'file', name: '', digest, size: bytes.length, executable: false },
    narHash: nar.digest(),
    narSize,
    references: t.references,
    deriver: null,
    signatures: [],
    ca: t.ca ?? `text:sha256:${encodeBase32(t.sha256 ?? sha256(bytes))}`,
    registrationTime: now(),
  });
}

function checkedName(name: string, what = name, baseName?: string): string {
  try {
    checkStorePathName(name, baseName);
  } catch (e) {
    // Nix: "store path '<hash>-<name>' contains illegal character 'x'" (exact when the would-be
    // base name is given; otherwise keep the substance).
    let msg = (e as Error).message.replace(/^store path: /, '');
    if (baseName !== undefined) msg = msg.replace(/ at position \d+ of its name$/, '');
    throw new DerivationEvalError(msg, { name, what });
  }
  return name;
}

/** outputHash (+ outputHashAlgo) as derivationStrict parses it (newHashAllowEmpty). */
export function parseOutputHash(outputHash: string, outputHashAlgo: string): NixHash {
  const algo = (['md5', 'sha1', 'sha256', 'sha512'] as const).find((a) => a === outputHashAlgo) ?? null;
  if (outputHash === '') {
    if (!algo) throw new DerivationEvalError('empty hash requires explicit hash type');
    return { algo, digest: Buffer.alloc({ md5: 16, sha1: 20, sha256: 32, sha512: 64 }[algo]) };
  }
  try {
    return parseHash(outputHash, algo ?? undefined);
  } catch (e) {
    throw new DerivationEvalError((e as Error).message.replace(/^hash: /, ''), { hash: outputHash });
  }
}

export { drvNameFromPath, derivationType, hashPlaceholder };
