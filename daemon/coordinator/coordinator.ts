// The coordinator: makes derivation outputs valid in the store — substituting what caches have,
// building the rest in dependency order with bounded parallelism — and ingests build outputs
// with reference scanning, fixed-output hash checks and PathInfo written last.
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildResult, BuildService } from '../../builder/build-service.js';
import type { Derivation } from '../../eval/derivation/derivation.js';
import { findDerivationForOutput, readDerivation } from '../../eval/derivation/record.js';
import { formatContentAddress } from '../../store/nix/content-address.js';
import { HashMismatchError, NotFoundError, TsixError } from '../../store/errors.js';
import { ingestPath } from '../../store/import/ingest.js';
import { logger } from '../../store/log.js';
import { formatHash, hashStream, parseHashUnprefixed, type HashAlgo, type NixHash } from '../../store/nix/hash.js';
import { storePathHashPart } from '../../store/nix/store-path.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { saveBuildLog } from './build-log.js';
import { buildRequestFor, isFixedOutput, STORE_DIR } from './build-request.js';
import { runBuiltinFetchurl } from './fetchurl.js';
import { Lru } from '../../fs/lru.js';

const log = logger('coordinator');
/** Paths whose references the coordinator keeps in memory at most. */
const REFERENCES_CACHED = 200_000;
/** Parsed derivations the coordinator keeps in memory at most. */
const DERIVATIONS_CACHED = 20_000;
/** Build logs up to this size are read synchronously. */
const SMALL_LOG = 1 << 20;

export class BuildFailedError extends TsixError {
  constructor(message: string, data: { drvPath: string; logTail?: string[]; [k: string]: unknown }) {
    super('E_BUILD_FAILED', message, data);
  }
}

export type BuildEvent =
  | { type: 'substituting'; path: string }
  | { type: 'queued'; drvPath: string }
  | { type: 'started'; drvPath: string }
  | { type: 'log'; drvPath: string; line: string }
  | { type: 'built'; drvPath: string; outputs: string[] }
  | { type: 'failed'; drvPath: string; error: string };

export interface CoordinatorOptions {
  store: Store;
  builder: BuildService;
  /** Host directory where store paths are readable (the FUSE mount of `store`). */
  inputSource: string;
  maxJobs?: number;
  /** NIX_BUILD_CORES (default: this machine's CPUs, as Nix's `cores` defaults). */
  buildCores?: number;
  /** Host file provided as /bin/sh in builds (default /bin/busybox when present), null for none. */
  shell?: string | null;
  timeoutMs?: number;
  keepFailed?: boolean;
  /** Tries to make a store path valid from binary caches; resolves to whether it did. */
  substitute?: (storePath: string) => Promise<boolean>;
  /** Signs a PathInfo before it is written (returns signatures to add). */
  sign?: (info: PathInfo) => string[];
  onEvent?: (e: BuildEvent) => void;
  /** Level at which failed builds are logged: 'error' in the daemon, 'info' where the caller reports them itself. */
  failureLogLevel?: 'error' | 'info';
}

/** A counting semaphore for build slots. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) { this.free = Math.max(1, n); }
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try { return await f(); } finally {
      const next = this.waiting.shift();
      if (next) next(); else this.free++;
    }
  }
}

export class Coordinator {
  private readonly store: Store;
  private readonly slots: Slots;
  /** Realisations in progress, by .drv path: concurrent requests share one build. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** References of valid paths seen by this coordinator (a valid path's never change). */
  private readonly referencesOf = new Lru<string, readonly string[]>(REFERENCES_CACHED);
  /** Parsed derivations (a .drv is content-addressed: what it says never changes). */
  private readonly derivations = new Lru<string, Derivation>(DERIVATIONS_CACHED);
  /** Recent failures, for status displays. */
  readonly failures: { drvPath: string; error: string; at: number }[] = [];
  readonly running = new Set<string>();
  private logs: Promise<string> | null = null;

  constructor(private readonly opts: CoordinatorOptions) {
    this.store = opts.store;
    this.slots = new Slots(opts.maxJobs ?? 1);
  }

  /** Makes every output of `drvPath` valid; resolves to output name → path. */
  async realise(drvPath: string): Promise<Map<string, string>> {
    const drv = await this.derivation(drvPath);
    await this.realiseShared(drvPath);
    return new Map([...drv.outputs].map(([n, o]) => [n, o.path]));
  }

  /**
   * Makes a store path valid if anyone can: it is already there, a substituter has it, or a
   * recorded derivation produces it. Resolves to whether it is valid now.
   */
  async ensurePath(storePath: string): Promise<boolean> {
    if (await this.isValid(storePath)) return true;
    if (await this.trySubstitute(storePath)) return true;
    const drvPath = await findDerivationForOutput(this.store, storePath);
    if (!drvPath) return false;
    await this.realiseShared(drvPath);
    return this.isValid(storePath);
  }

  private async isValid(path: string): Promise<boolean> {
    const info = await this.store.pathInfos.get(storePathHashPart(path));
    return info !== null && info.path === path;
  }

  private async trySubstitute(path: string): Promise<boolean> {
    if (!this.opts.substitute) return false;
    this.opts.onEvent?.({ type: 'substituting', path });
    try {
      return await this.opts.substitute(path);
    } catch (err) {
      log.warn({ path, err: (err as Error).message }, 'substitution failed');
      return false;
    }
  }

  private async derivation(drvPath: string): Promise<Derivation> {
    const known = this.derivations.get(drvPath);
    if (known) return known;
    // Read first, substituted only when absent: each store round trip counts once per level of a
    // deep graph, whose derivations are read one level after the other.
    let drv = await readDerivation(this.store, drvPath);
    if (!drv && (await this.trySubstitute(drvPath))) drv = await readDerivation(this.store, drvPath);
    if (!drv) throw new NotFoundError(`derivation '${drvPath}'`, { path: drvPath });
    this.derivations.set(drvPath, drv);
    return drv;
  }

  private realiseShared(drvPath: string): Promise<void> {
    let p = this.inflight.get(drvPath);
    if (!p) {
      p = this.realiseOnce(drvPath).finally(() => this.inflight.delete(drvPath));
      this.inflight.set(drvPath, p);
    }
    return p;
  }

  private async realiseOnce(drvPath: string): Promise<void> {
    const drv = await this.derivation(drvPath);
    const outputs = [...drv.outputs.values()].map((o) => o.path);
    const missing = [];
    for (const o of outputs) if (!(await this.isValid(o))) missing.push(o);
    if (missing.length === 0) return;
    let substituted = 0;
    for (const o of missing) if (await this.trySubstitute(o)) substituted++;
    if (substituted && (await Promise.all(outputs.map((o) => this.isValid(o)))).every(Boolean)) return;
    this.opts.onEvent?.({ type: 'queued', drvPath });
    await Promise.all([...drv.inputDrvs.keys()].map((d) => this.realiseShared(d)));
    for (const src of drv.inputSrcs) {
      if (!(await this.ensurePath(src))) throw new NotFoundError(`input '${src}' of '${drvPath}'`, { path: src });
    }
    await this.slots.run(() => this.build(drvPath, drv));
  }

  /** The closure of a derivation's inputs (sources and the outputs it uses), as full paths. */
  private async inputClosure(drv: Derivation): Promise<string[]> {
    const roots: string[] = [...drv.inputSrcs];
    const inputs = await Promise.all([...drv.inputDrvs.keys()].map((d) => this.derivation(d)));
    let k = 0;
    for (const [d, outs] of drv.inputDrvs) {
      const input = inputs[k++]!;
      for (const o of outs) {
        const out = input.outputs.get(o);
        if (!out) throw new NotFoundError(`output '${o}' of '${d}'`);
        roots.push(out.path);
      }
    }
    // Level by level, each level's PathInfos fetched together (the store batches concurrent gets);
    // references already known (a valid path's never change) are followed without a lookup, so
    // a chain of builds does not walk the store once per level of its ever deeper closure.
    const seen = new Set<string>();
    let level = [...new Set(roots)];
    while (level.length) {
      for (const p of level) seen.add(p);
      // This level's references, held here: the bounded cache may drop some while it is filled.
      const refs = new Map<string, readonly string[]>();
      for (const p of level) { const r = this.referencesOf.get(p); if (r) refs.set(p, r); }
      const unknown = level.filter((p) => !refs.has(p));
      const infos = await Promise.all(unknown.map((p) => this.store.pathInfos.get(storePathHashPart(p))));
      infos.forEach((info, i) => {
        if (!info) throw new NotFoundError(`input path '${unknown[i]}'`, { path: unknown[i] });
        refs.set(unknown[i]!, info.references);
        this.referencesOf.set(unknown[i]!, info.references);
      });
      const next = new Set<string>();
      for (const p of level) for (const r of refs.get(p)!) if (!seen.has(r)) next.add(r);
      level = [...next];
    }
    return [...seen].sort();
  }

  private async build(drvPath: string, drv: Derivation): Promise<void> {
    this.running.add(drvPath);
    this.opts.onEvent?.({ type: 'started', drvPath });
    log.info({ drvPath }, 'building');
    try {
      if (drv.builder === 'builtin:fetchurl') await this.buildFetchurl(drvPath, drv);
      else await this.buildInSandbox(drvPath, drv);
      this.opts.onEvent?.({ type: 'built', drvPath, outputs: [...drv.outputs.values()].map((o) => o.path) });
    } catch (err) {
      const msg = (err as Error).message;
      this.failures.push({ drvPath, error: msg, at: Date.now() });
      if (this.failures.length > 50) this.failures.shift();
      this.opts.onEvent?.({ type: 'failed', drvPath, error: msg });
      log[this.opts.failureLogLevel ?? 'error']({ drvPath, err: msg, log: `tsix log ${drvPath}` }, 'build failed');
      throw err;
    } finally {
      this.running.delete(drvPath);
    }
  }

  private async buildFetchurl(drvPath: string, drv: Derivation): Promise<void> {
    const tmp = await mkdtemp(join(tmpdir(), 'tsix-fetch-'));
    try {
      const out = drv.outputs.get('out');
      if (!out) throw new BuildFailedError(`builtin:fetchurl derivation '${drvPath}' has no 'out' output`, { drvPath });
      const host = join(tmp, 'out');
      await runBuiltinFetchurl(drv, host);
      await this.registerOutputs(drvPath, drv, new Map([[out.path, host]]), []);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  private async buildInSandbox(drvPath: string, drv: Derivation): Promise<void> {
    const closure = await this.inputClosure(drv);
    const req = buildRequestFor(drv, {
      inputSource: this.opts.inputSource,
      inputClosure: closure,
      shell: this.opts.shell === undefined ? '/bin/busybox' : this.opts.shell,
      buildCores: this.opts.buildCores ?? availableParallelism(),
      timeoutMs: this.opts.timeoutMs,
    });
    const logDir = await this.logDir();
    let result: BuildResult | null = null;
    try {
      result = await this.opts.builder.build(req, {
        logDir,
        keepFailed: this.opts.keepFailed,
        onLog: (line) => this.opts.onEvent?.({ type: 'log', drvPath, line }),
      });
      await saveBuildLog(this.store, drvPath, await readLog(result.logPath));
      if (result.timedOut || result.exitCode !== 0) throw this.failure(drvPath, result);
      const hosts = new Map<string, string>();
      for (const o of result.outputs) {
        if (!o.hostPath) throw new BuildFailedError(`builder for '${drvPath}' failed to produce output path '${o.path}'`, { drvPath, output: o.path });
        hosts.set(o.path, o.hostPath);
      }
      await this.registerOutputs(drvPath, drv, hosts, closure);
    } finally {
      await result?.release();
      // Not waited for: the next build need not, and close() removes the directory anyway.
      if (result) void unlink(result.logPath).catch(() => undefined);
    }
  }

  /** The directory builders write their logs in (each removed once saved), made at the first
   *  build: a directory per build cost a mkdir and an rmdir each, ~1.5 ms on this host's ext4. */
  private logDir(): Promise<string> {
    this.logs ??= mkdtemp(join(tmpdir(), 'tsix-log-'));
    return this.logs.catch((e: unknown) => { this.logs = null; throw e; });
  }

  /** Removes the log directory; builds started afterwards make a new one. */
  async close(): Promise<void> {
    const dir = await this.logs?.catch(() => null);
    this.logs = null;
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  private failure(drvPath: string, r: BuildResult): BuildFailedError {
    const why = r.timedOut ? `timed out after ${this.opts.timeoutMs} ms` : r.exitCode === null ? `was killed by signal ${r.signal}` : `failed with exit code ${r.exitCode}`;
    const tail = r.logTail.slice(-10);
    const shown = tail.length ? `;\n       last ${tail.length} log lines:\n${tail.map((l) => `       > ${l}`).join('\n')}` : '';
    return new BuildFailedError(`builder for '${drvPath}' ${why}${shown}\n       For full logs, run 'tsix log ${drvPath}'.`, { drvPath, logTail: tail, exitCode: r.exitCode, timedOut: r.timedOut });
  }

  /** Ingests each output with reference scanning, checks fixed-output hashes, writes PathInfos last. */
  private async registerOutputs(drvPath: string, drv: Derivation, hosts: Map<string, string>, closure: string[]): Promise<void> {
    const outputs = [...hosts.keys()];
    const candidates = [...closure, ...outputs];
    const byHash = new Map(candidates.map((p) => [storePathHashPart(p), p]));
    const infos: PathInfo[] = [];
    for (const [path, host] of hosts) {
      const ingested = await ingestPath(this.store, host, { needles: byHash.keys() });
      const info: PathInfo = {
        path,
        node: { ...ingested.node, name: '' } as PathInfo['node'],
        narHash: ingested.narHash,
        narSize: ingested.narSize,
        references: ingested.references.map((h) => byHash.get(h)!).sort(),
        deriver: drvPath,
        signatures: [],
        ca: null,
        registrationTime: Math.floor(Date.now() / 1000),
      };
      if (isFixedOutput(drv)) info.ca = await this.checkFixedOutput(drvPath, drv, info);
      info.signatures = this.opts.sign?.(info) ?? [];
      infos.push(info);
    }
    checkOutputCycles(drvPath, drv, infos);
    // PathInfos last: every output is ingested (and checked) before any becomes visible.
    for (const info of infos) await this.store.pathInfos.put(info);
    for (const info of infos) this.referencesOf.set(info.path, info.references);
  }

  private async checkFixedOutput(drvPath: string, drv: Derivation, info: PathInfo): Promise<string> {
    const out = [...drv.outputs.values()][0]!;
    const recursive = out.hashAlgo.startsWith('r:');
    const algo = (recursive ? out.hashAlgo.slice(2) : out.hashAlgo) as HashAlgo;
    const wanted = parseHashUnprefixed(out.hash, algo);
    let got: NixHash;
    if (recursive) {
      if (algo === 'sha256') got = { algo, digest: info.narHash };
      else {
        const { dumpNar } = await import('../../store/nix/nar-dump.js');
        got = (await hashStream(algo, dumpNar(this.store, info.node))).hash;
      }
    } else {
      if (info.node.type !== 'file') throw new BuildFailedError(`output of fixed-output derivation '${drvPath}' with flat hashing is not a regular file`, { drvPath });
      const stream = await this.store.blobs.open(info.node.digest);
      got = (await hashStream(algo, stream!)).hash;
    }
    if (!got.digest.equals(wanted.digest)) {
      throw new HashMismatchError(`fixed-output derivation '${drvPath}'`, formatHash(wanted, 'sri'), formatHash(got, 'sri'), { drvPath });
    }
    if (info.references.length) throw new BuildFailedError(`illegal path references in fixed-output derivation '${drvPath}'`, { drvPath, references: info.references });
    return formatContentAddress({ type: 'fixed', method: recursive ? 'recursive' : 'flat', hash: got });
  }
}

/** A build's log, empty if unreadable. Small ones (most) are read synchronously: the open, reads
 *  and close each waited for a turn in the thread pool on the path to the next build of a chain. */
async function readLog(path: string): Promise<Buffer> {
  try {
    return statSync(path).size <= SMALL_LOG ? readFileSync(path) : await readFile(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** Outputs may refer to each other only without cycles (Nix refuses to register a cycle). */
function checkOutputCycles(drvPath: string, drv: Derivation, infos: PathInfo[]): void {
  const nameOf = new Map([...drv.outputs].map(([n, o]) => [o.path, n]));
  const refs = new Map(infos.map((i) => [i.path, i.references.filter((r) => r !== i.path && nameOf.has(r))]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (p: string, from: string | null): void => {
    if (state.get(p) === 'done') return;
    if (state.get(p) === 'visiting') {
      throw new BuildFailedError(`cycle detected in build of '${drvPath}' in the references of output '${nameOf.get(p)}' from output '${nameOf.get(from!)}'`, { drvPath });
    }
    state.set(p, 'visiting');
    for (const r of refs.get(p) ?? []) visit(r, p);
    state.set(p, 'done');
  };
  for (const i of infos) visit(i.path, null);
}

export { STORE_DIR };
