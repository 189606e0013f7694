// Stand-ins for the derivation and source primops, so that `tsix eval` on the main thread starts
// without loading the derivation support (its modules and the store code under them are a good
// part of the start-up time, and most evaluations never make a derivation). A stand-in throws
// NeedDerivations; main-thread-eval.ts then loads the support and evaluates again from the start.
// Anything these names miss falls back to the store-less builtins, whose errors send the
// evaluation to the worker, which always has the support: never a wrong result, only a slower one.
import { builtinEntries, registerBuiltin } from '../builtins/index.js';
import type { StoreAdapter } from '../evaluator.js';
import { PrimOp } from '../values.js';

/** The evaluation needs the derivation support, which is not loaded. */
export class NeedDerivations extends Error {
  constructor() { super('the derivation support is needed'); }
}

/**
 * The primops registerDerivationPrimops (evaluator-adapter.ts) replaces, with their arities;
 * but storePath, for which enableDerivationsForEval keeps the evaluator's own.
 */
const DERIVATION_PRIMOPS: [string, number][] = [
  ['derivationStrict', 1], ['placeholder', 1], ['unsafeDiscardOutputDependency', 1],
  ['toFile', 2], ['filterSource', 2], ['path', 1], ['fetchurl', 1], ['fetchTarball', 1],
];

const need = (): never => { throw new NeedDerivations(); };

/** Registers the stand-ins and returns a StoreAdapter whose copies need the support too. */
export function deferDerivations(): StoreAdapter {
  for (const [name, arity] of DERIVATION_PRIMOPS) {
    registerBuiltin(name, new PrimOp(name, arity, need), { global: builtinEntries().get(name)?.global ?? false });
  }
  return { storeDir: '/nix/store', copyPathToStore: need };
}
