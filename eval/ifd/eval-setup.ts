// `tsix eval`'s worker: derivations are instantiated (as nix-instantiate --eval --read-write-mode
// does, so that import-from-derivation can build them) and store reads go to the main thread.
import { builtinEntries, registerBuiltin } from '../builtins/index.js';
import { enableDerivations } from '../derivation/evaluator-adapter.js';
import type { StoreAdapter } from '../evaluator.js';
import { installWorkerBridge, type IfdWorkerEnd } from './bridge.js';

/** Registers the derivation primops and, with a channel, routes store reads through it; returns the evaluator's store. */
export function setupEvalWorker(ifd: IfdWorkerEnd | undefined): StoreAdapter {
  // The evaluator's own storePath checks the path as Nix does (status of each component, then
  // validity, which realises it through the store reads below); keep it over the session's.
  const storePath = builtinEntries().get('storePath');
  const store = enableDerivations();
  if (storePath) registerBuiltin('storePath', storePath.value, { global: storePath.global });
  if (ifd) installWorkerBridge(ifd, () => store.session.takePending());
  return store;
}
