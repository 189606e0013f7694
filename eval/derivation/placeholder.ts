// Placeholders Nix substitutes at build time for paths not known at evaluation time.
import { encodeBase32 } from '../../store/nix/base32.js';
import { sha256 } from '../../store/nix/hash.js';
import { outputPathName } from '../../store/nix/store-path.js';

/** `builtins.placeholder`: '/' + nixbase32(sha256("nix-output:<output>")). */
export function hashPlaceholder(outputName: string): string {
  return '/' + encodeBase32(sha256('nix-output:' + outputName));
}

/** Stands in for an output of a floating derivation in its dependents. */
export function downstreamPlaceholder(drvPath: string, outputName: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf('/') + 1);
  const drvName = base.slice(33, -4);
  return '/' + encodeBase32(sha256(`nix-upstream-output:${base.slice(0, 32)}:${outputPathName(drvName, outputName)}`));
}
