// A StoreAdapter that computes the store path a source would get (Nix's copyPathToStore: NAR
// sha256, "source" type) without storing anything: what `tsix eval` needs to print store paths
// as nix-instantiate --eval does. A real store (the coordinator's session) replaces it to copy too.
import { hashSourceTree } from './derivation/source-hash.js';
import { makeStorePath, makeType } from '../store/nix/store-path.js';
import type { StoreAdapter } from './evaluator.js';
import { baseNameOf } from './paths.js';

export class HashingStoreAdapter implements StoreAdapter {
  readonly storeDir = '/nix/store';
  copyPathToStore(fsPath: string): string {
    const h = hashSourceTree(fsPath, null);
    return makeStorePath(makeType('source'), h.narHash.toString('hex'), baseNameOf(fsPath) || 'source');
  }
}
