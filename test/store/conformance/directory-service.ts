// DirectoryService conformance: canonical digests and every validation rule.
import type { TestFn } from 'ava';
import { blake3 } from '../../../store/hash/blake3.js';
import type { Directory } from '../../../store/castore/nodes.js';
import type { Store } from '../../../store/store.js';

const D = (s: string) => blake3(Buffer.from(s));

export function directoryServiceSuite(test: TestFn, name: string, open: () => Promise<Store>): void {
  test(`${name}: directories round-trip with stable digests, children first`, async (t) => {
    const store = await open();
    const leaf: Directory = { directories: [], files: [{ name: 'f', digest: D('f'), size: 1, executable: true }], symlinks: [{ name: 'l', target: '../x' }] };
    const [leafDigest] = await store.directories.putMany([leaf]);
    const parent: Directory = { directories: [{ name: 'sub', digest: leafDigest!, size: 2 }], files: [], symlinks: [] };
    const [pd] = await store.directories.putMany([parent]);
    t.deepEqual(await store.directories.get(leafDigest!), leaf);
    t.deepEqual(await store.directories.get(pd!), parent);
    const [again] = await store.directories.putMany([structuredClone(leaf)]);
    t.true(again!.equals(leafDigest!), 'one tree, one digest');
    t.true(await store.directories.has(pd!));
    t.is(await store.directories.get(D('absent')), null);
    await store.close();
  });

  test(`${name}: a parent before its child is refused`, async (t) => {
    const store = await open();
    const parent: Directory = { directories: [{ name: 'sub', digest: D('missing child'), size: 1 }], files: [], symlinks: [] };
    await t.throwsAsync(store.directories.putMany([parent]), { message: /must be stored before/ });
    await store.close();
  });

  const bad: [string, Directory, RegExp][] = [
    ['empty name', { directories: [], files: [{ name: '', digest: D('x'), size: 0, executable: false }], symlinks: [] }, /empty/],
    ['dot', { directories: [], files: [], symlinks: [{ name: '.', target: 'x' }] }, /not allowed/],
    ['dotdot', { directories: [], files: [], symlinks: [{ name: '..', target: 'x' }] }, /not allowed/],
    ['slash', { directories: [], files: [], symlinks: [{ name: 'a/b', target: 'x' }] }, /contains '\/'/],
    ['NUL', { directories: [], files: [], symlinks: [{ name: 'a\0b', target: 'x' }] }, /NUL/],
    ['long name', { directories: [], files: [], symlinks: [{ name: 'n'.repeat(256), target: 'x' }] }, /255 bytes/],
    ['unsorted', { directories: [], files: [], symlinks: [{ name: 'b', target: 'x' }, { name: 'a', target: 'x' }] }, /not sorted/],
    ['duplicate across lists', { directories: [], files: [{ name: 'a', digest: D('x'), size: 0, executable: false }], symlinks: [{ name: 'a', target: 'x' }] }, /duplicate/],
    ['empty target', { directories: [], files: [], symlinks: [{ name: 'a', target: '' }] }, /empty target/],
    ['long target', { directories: [], files: [], symlinks: [{ name: 'a', target: 't'.repeat(4096) }] }, /4095/],
    ['short digest', { directories: [], files: [{ name: 'a', digest: Buffer.alloc(5), size: 0, executable: false }], symlinks: [] }, /digest/],
  ];
  for (const [what, dir, re] of bad) {
    test(`${name}: rejects a directory with ${what}`, async (t) => {
      const store = await open();
      await t.throwsAsync(store.directories.putMany([dir]), { message: re });
      await store.close();
    });
  }
}
