// Build logs: kept in the store's meta under the .drv base name, so `tsix log` works for any
// client of the store (directly or through the daemon).
import type { Store } from '../../store/store.js';

const LOG_PREFIX = 'log:';
/** Logs longer than this keep their last part (the part a failure is explained in). */
const MAX_LOG = 8 << 20;

export async function saveBuildLog(store: Store, drvPath: string, log: Buffer): Promise<void> {
  const kept = log.length > MAX_LOG ? Buffer.concat([Buffer.from(`[… ${log.length - MAX_LOG} bytes omitted …]\n`), log.subarray(log.length - MAX_LOG)]) : log;
  await store.meta.putMany([[LOG_PREFIX + drvPath.slice(drvPath.lastIndexOf('/') + 1), kept]]);
}

export async function loadBuildLog(store: Store, drvPath: string): Promise<Buffer | null> {
  return store.meta.get(LOG_PREFIX + drvPath.slice(drvPath.lastIndexOf('/') + 1));
}
