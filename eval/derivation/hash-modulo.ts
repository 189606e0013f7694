// hashDerivationModulo and the paths that follow from it (output paths, .drv paths), as Nix 2.8
// computes them (src/libstore/derivations.cc).
import { InvalidInputError } from '../../store/errors.js';
import { parseHashAlgo, parseHashUnprefixed, sha256 } from '../../store/nix/hash.js';
import { makeFixedOutputPath, makeOutputPath, makeStorePath, outputPathName } from '../../store/nix/store-path.js';
import { outputKind, unparseDerivation, type Derivation } from './derivation.js';

/** Output name → hex sha256 standing in for the derivation; `deferred` if any input is floating. */
export interface DrvHash {
  hashes: Map<string, string>;
  deferred: boolean;
}

export type DerivationType = 'inputAddressed' | 'deferred' | 'fixed' | 'floating' | 'impure';

/** Nix's BasicDerivation::type(), with its errors. */
export function derivationType(drv: Derivation): DerivationType {
  const kinds = new Set<string>();
  let fixedCount = 0;
  let floatingAlgo: string | null = null;
  for (const [name, o] of drv.outputs) {
    const k = outputKind(o);
    kinds.add(k);
    if (k === 'fixed') {
      fixedCount++;
      if (name !== 'out') throw new InvalidInputError('derivation', `single fixed output must be named "out"`, { name: drv.name });
    }
    if (k === 'floating') {
      const algo = o.hashAlgo.replace(/^r:/, '');
      if (floatingAlgo !== null && floatingAlgo !== algo) throw new InvalidInputError('derivation', 'all floating outputs must use the same hash type', { name: drv.name });
      floatingAlgo = algo;
    }
  }
  if (kinds.size === 0) throw new InvalidInputError('derivation', 'must have at least one output', { name: drv.name });
  if (kinds.size > 1) throw new InvalidInputError('derivation', "can't mix derivation output types", { name: drv.name });
  if (fixedCount > 1) throw new InvalidInputError('derivation', 'only one fixed output is allowed for now', { name: drv.name });
  return [...kinds][0] as DerivationType;
}

/** sha256("nix-output:<name>") in nixbase32 after a '/': Nix's hashPlaceholder. */
export { hashPlaceholder } from './placeholder.js';

/**
 * Computes hashDerivationModulo with a memo per .drv path. `load` returns an input derivation
 * (already parsed) by path; derivations instantiated in this run are registered with `remember`
 * so they are never re-read.
 */
export class DerivationHasher {
  private readonly memo = new Map<string, DrvHash>();

  constructor(private readonly load: (drvPath: string) => Derivation) {}

  /** Records the (unmasked) modulo hash of a derivation known by its path. */
  remember(drvPath: string, h: DrvHash): void {
    this.memo.set(drvPath, h);
  }

  /** The memoised modulo hash of a .drv path (loading it on a miss). */
  pathHash(drvPath: string): DrvHash {
    let h = this.memo.get(drvPath);
    if (!h) {
      h = this.hashModulo(this.load(drvPath), false);
      this.memo.set(drvPath, h);
    }
    return h;
  }

  hashModulo(drv: Derivation, maskOutputs: boolean): DrvHash {
    const type = derivationType(drv);
    if (type === 'fixed') {
      const hashes = new Map<string, string>();
      for (const [name, o] of drv.outputs) {
        hashes.set(name, sha256(`fixed:out:${o.hashAlgo}:${o.hash}:${o.path}`).toString('hex'));
      }
      return { hashes, deferred: false };
    }
    if (type === 'impure') {
      const h = sha256('impure').toString('hex');
      return { hashes: new Map([...drv.outputs.keys()].map((k) => [k, h])), deferred: true };
    }
    let deferred = type === 'floating';
    const inputs = new Map<string, Set<string>>();
    for (const [p, outs] of drv.inputDrvs) {
      const res = this.pathHash(p);
      if (res.deferred) deferred = true;
      for (const out of outs) {
        const h = res.hashes.get(out);
        if (h === undefined) throw new InvalidInputError('derivation', `input derivation '${p}' has no output '${out}'`, { drvPath: p, output: out });
        let set = inputs.get(h);
        if (!set) inputs.set(h, (set = new Set()));
        set.add(out);
      }
    }
    const h = sha256(unparseDerivation(drv, { maskOutputs, actualInputs: inputs })).toString('hex');
    return { hashes: new Map([...drv.outputs.keys()].map((k) => [k, h])), deferred };
  }
}

/** The output path of an input-addressed output (`output:<name>` fingerprint). */
export function inputAddressedOutputPath(drvName: string, outputName: string, moduloHex: string): string {
  return makeOutputPath(outputName, moduloHex, drvName);
}

/** The .drv store path Nix writes a derivation to: a text path with inputSrcs + inputDrvs as references. */
export function derivationStorePath(drv: Derivation, aterm = unparseDerivation(drv), refs = derivationReferences(drv), atermSha256 = sha256(aterm)): string {
  // The references come from a parsed or instantiated derivation (already valid store paths), so
  // the text path is made directly instead of re-validating each one (makeTextPath does).
  return makeStorePath(['text', ...refs].join(':'), atermSha256.toString('hex'), drv.name + '.drv');
}

/** References of a .drv file: its input sources and input derivations (never its outputs). */
export function derivationReferences(drv: Derivation): string[] {
  const refs = new Set(drv.inputSrcs);
  for (const p of drv.inputDrvs.keys()) refs.add(p);
  return [...refs].sort();
}

/**
 * The output paths a derivation's hashes determine (what its outputs' `path` fields must hold):
 * fixed outputs from their hash, input-addressed ones from the masked modulo hash. Floating and
 * deferred outputs have none.
 */
export function computeOutputPaths(drv: Derivation, hasher: DerivationHasher): Map<string, string> {
  const out = new Map<string, string>();
  const type = derivationType(drv);
  if (type === 'fixed') {
    for (const [name, o] of drv.outputs) out.set(name, fixedOutputPath(drv.name, name, o.hashAlgo, o.hash));
    return out;
  }
  if (type !== 'inputAddressed') return out;
  const h = hasher.hashModulo(drv, true);
  if (h.deferred) return out;
  for (const name of drv.outputs.keys()) out.set(name, inputAddressedOutputPath(drv.name, name, h.hashes.get(name)!));
  return out;
}

/** The path of a fixed output given its .drv fields (`[r:]<algo>`, base16 hash). */
export function fixedOutputPath(drvName: string, outputName: string, hashAlgo: string, hashHex: string): string {
  const recursive = hashAlgo.startsWith('r:');
  const algo = parseHashAlgo(recursive ? hashAlgo.slice(2) : hashAlgo);
  const hash = parseHashUnprefixed(hashHex, algo);
  return makeFixedOutputPath(recursive ? 'recursive' : 'flat', hash, outputPathName(drvName, outputName));
}
