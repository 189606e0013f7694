// Runs an instantiation (`tsix instantiate`, `tsix build`): on this thread first, and when that
// attempt gives up (import from derivation, a failure, a deep stack, a large heap), in a worker
// thread with import-from-derivation served from this thread: the evaluation blocks on store
// reads while this thread flushes, builds and serves the mount (see eval/ifd/bridge.ts and ifd-provider.ts).
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import type { FoundDerivation } from '../../eval/derivation/instantiate.js';
import { createIfdChannel } from '../../eval/ifd/bridge.js';
import type { InstantiateJob, InstantiateWorkerResult } from '../../eval/ifd/instantiate-job.js';
import { TsixError } from '../../store/errors.js';
import type { Store } from '../../store/store.js';
import { IfdProvider, type IfdOptions } from './ifd-provider.js';

export interface InstantiateInWorkerOptions extends Omit<InstantiateJob, 'cwd' | 'stdinText'>, IfdOptions {
  /** false: do not write the .drv files and sources at the end (--dry-run; IFD still writes what it needs). */
  write?: boolean;
}

/** Evaluates (here or in a worker); resolves to the derivations found, after writing them to `store`. */
export async function instantiateInWorker(store: Store, o: InstantiateInWorkerOptions): Promise<FoundDerivation[]> {
  const job: InstantiateJob = {
    files: o.files, fromArgs: o.fromArgs, attrPaths: o.attrPaths, args: o.args, includePaths: o.includePaths,
    cwd: process.cwd(), stdinText: o.files.includes('-') && !o.fromArgs ? readFileSync(0, 'utf8') : null,
  };
  const provider = new IfdProvider(store, o);
  if (process.env.TSIX_EVAL_WORKER !== '1') {
    const { instantiateOnMainThread } = await import('../../eval/ifd/instantiate-main-thread.js');
    const r = await instantiateOnMainThread(job, (s) => process.stderr.write(s));
    if (r !== null) {
      try {
        provider.addPending(r.pending);
        if (o.write !== false) await provider.flushPending(null);
        return r.found;
      } finally {
        await provider.close();
      }
    }
  }
  const chan = createIfdChannel(o.allowIfd);
  provider.serve(chan.main);
  const worker = new Worker(new URL('../../eval/ifd/instantiate-worker.js', import.meta.url), {
    workerData: { job, ifd: chan.worker },
    transferList: [chan.worker.port],
    resourceLimits: { stackSizeMb: 256, maxOldGenerationSizeMb: 8192 },
  });
  try {
    const r = await new Promise<InstantiateWorkerResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (c) => reject(new TsixError('E_EVAL', `the evaluation thread exited (code ${c}) without a result`)));
    });
    if (r.t === 'error') throw new TsixError(r.code, r.message);
    provider.addPending(r.pending);
    if (o.write !== false) await provider.flushPending(null);
    return r.found;
  } finally {
    chan.main.port.close();
    await worker.terminate();
    await provider.close();
  }
}
