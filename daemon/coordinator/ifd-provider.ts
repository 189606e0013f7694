// The main-thread side of import-from-derivation: an evaluation in a worker thread (eval/ifd/)
// asks for a store path; this writes the derivations and sources the evaluation has created so
// far (the coordinator finds derivations through the store), has the path realised — by the
// daemon when the store is remote, else by a local coordinator over a private mount started on
// first use — and answers the host path where the worker reads it (always a mount of the tsix
// store, never this machine's own /nix/store).
import { basename } from 'node:path';
import type { IfdRequest, IfdWorkerEnd } from '../../eval/ifd/bridge.js';
import { serveIfd } from '../../eval/ifd/bridge.js';
import { findDerivationForOutput } from '../../eval/derivation/record.js';
import { InstantiationSession } from '../../eval/derivation/session.js';
import { TsixError } from '../../store/errors.js';
import { parseStorePath, storePathHashPart } from '../../store/nix/store-path.js';
import { RemoteStore } from '../../store/remote/remote-store.js';
import type { Store } from '../../store/store.js';
import type { BuildEvent } from './coordinator.js';
import type { LocalSession } from './local-session.js';

/** Nix's error when IFD is refused (`--option allow-import-from-derivation false`). */
export class IfdDisabledError extends TsixError {
  constructor(drvPath: string) {
    super('E_EVAL', `cannot build '${drvPath}' during evaluation because the option 'allow-import-from-derivation' is disabled`, { drvPath });
  }
}

export interface IfdOptions {
  /** false: refuse to build during evaluation, as Nix with allow-import-from-derivation = false. */
  allowIfd: boolean;
  builderUrl?: string;
  maxJobs?: number;
  /** Where "building '…'..." lines go (Nix prints them on stderr during IFD). */
  log?: (line: string) => void;
}

/** A host path that never exists: where a store path nobody can produce is "read". */
const NOWHERE = '/nonexistent/tsix-path-not-valid';

export class IfdProvider {
  private readonly session = new InstantiationSession();
  private local: Promise<LocalSession> | null = null;
  private opened: Promise<Store> | null = null;

  /** `store`: the store to use, or how to open one on first need (then closed by close()). */
  constructor(private readonly storeOrOpen: Store | (() => Promise<Store>), private readonly opts: IfdOptions) {}

  private storeNow(): Promise<Store> {
    if (typeof this.storeOrOpen !== 'function') return Promise.resolve(this.storeOrOpen);
    return (this.opened ??= this.storeOrOpen());
  }

  /** Writes what the evaluation created, realises `req.path` and resolves to where it can be read. */
  async handle(req: IfdRequest): Promise<string> {
    if (req.pending) await this.flushPending(req.pending);
    const path = req.path;
    try { parseStorePath(path); } catch { return NOWHERE + path; }
    const store = await this.storeNow();
    if (!this.opts.allowIfd && !(await isValid(store, path))) {
      const drv = await findDerivationForOutput(store, path);
      if (drv) throw new IfdDisabledError(drv);
    }
    if (store instanceof RemoteStore) {
      const ok = await store.rpc.call('ensurePath', [path]) as boolean;
      const { mountPoint } = await store.rpc.call('status') as { mountPoint: string | null };
      if (!mountPoint) throw new TsixError('E_CONFIG', `reading '${path}' during evaluation needs the daemon's store mounted (the daemon runs with --no-mount)`, { path });
      return ok ? `${mountPoint}/${basename(path)}` : NOWHERE + path;
    }
    const s = await this.localSession(store);
    const ok = await s.coordinator.ensurePath(path);
    return ok ? `${await s.mount()}/${basename(path)}` : NOWHERE + path;
  }

  /** Takes what an evaluation hands over at its end, to be written by flushPending (or dropped by close). */
  addPending(pending: NonNullable<IfdRequest['pending']>): void {
    this.session.addPending(pending);
  }

  /** Writes an evaluation's remaining new files (what its end hands over), like session.flush. */
  async flushPending(pending: IfdRequest['pending']): Promise<void> {
    if (pending) this.session.addPending(pending);
    await this.session.flush(await this.storeNow());
  }

  /** Answers a worker's requests until its port closes. */
  serve(end: IfdWorkerEnd): void {
    serveIfd(end, (req) => this.handle(req));
  }

  async close(): Promise<void> {
    this.session.dispose();
    const l = this.local;
    this.local = null;
    if (l) await (await l.catch(() => null))?.close();
    const o = this.opened;
    this.opened = null;
    if (o) await (await o.catch(() => null))?.close();
  }

  private localSession(store: Store): Promise<LocalSession> {
    if (!this.local) {
      const onEvent = (e: BuildEvent) => { if (e.type === 'started') this.opts.log?.(`building '${e.drvPath}'...\n`); };
      // Loaded on first use: evaluations without IFD never need the builder or FUSE code.
      this.local = import('./local-session.js').then((m) => m.startLocalSession(store, { builderUrl: this.opts.builderUrl, maxJobs: this.opts.maxJobs, onEvent }));
    }
    return this.local;
  }
}

async function isValid(store: Store, path: string): Promise<boolean> {
  const info = await store.pathInfos.get(storePathHashPart(path));
  return info !== null && info.path === path;
}

export { takeIfdOptions } from '../../eval/ifd/options.js';
