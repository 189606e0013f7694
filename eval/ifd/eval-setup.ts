// `tsix eval`'s worker: derivations are instantiated (as nix-instantiate --eval --read-write-mode
// does, so that import-from-derivation can build them) and store reads go to the main thread.
import { enableDerivationsForEval } from '../derivation/evaluator-adapter.js';
import type { StoreAdapter } from '../evaluator.js';
import { installWorkerBridge, type IfdWorkerEnd } from './bridge.js';

/** Registers the derivation primops and, with a channel, routes store reads through it; returns the evaluator's store. */
export function setupEvalWorker(ifd: IfdWorkerEnd | undefined): StoreAdapter {
  const store = enableDerivationsForEval();
  if (ifd) installWorkerBridge(ifd, () => store.session.takePending());
  return store;
}
