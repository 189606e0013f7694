// Serving a worker's store reads with the provider (and the store) loaded only on the first read,
// so that an evaluation without import-from-derivation starts as fast as before.
import { serveIfd, type IfdWorkerEnd } from '../../eval/ifd/bridge.js';
import type { IfdOptions, IfdProvider } from './ifd-provider.js';

export function serveIfdLazily(end: IfdWorkerEnd, storeUrl: string | null, opts: IfdOptions): { close(): Promise<void> } {
  let provider: Promise<IfdProvider> | null = null;
  const get = () => (provider ??= (async () => {
    const [{ IfdProvider: P }, { openStore }] = await Promise.all([import('./ifd-provider.js'), import('../../store/open-store.js')]);
    return new P(() => openStore(storeUrl), opts);
  })());
  serveIfd(end, async (req) => (await get()).handle(req));
  return {
    async close() {
      end.port.close();
      if (provider) await (await provider).close();
    },
  };
}
