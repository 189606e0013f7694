// PathInfoService and MetaService conformance.
import type { TestFn } from 'ava';
import { blake3 } from '../../../store/hash/blake3.js';
import type { PathInfo } from '../../../store/pathinfo/path-info.js';
import type { Store } from '../../../store/store.js';

export function samplePathInfo(hashPart: string, name = 'sample'): PathInfo {
  return {
    path: `/nix/store/${hashPart}-${name}`,
    node: { type: 'file', name: '', digest: blake3(Buffer.from(name)), size: 3, executable: false },
    narHash: Buffer.alloc(32, 7),
    narSize: 120,
    references: [`/nix/store/${'b'.repeat(32)}-dep`],
    deriver: `/nix/store/${'c'.repeat(32)}-x.drv`,
    signatures: ['cache.example.org-1:c2ln'],
    ca: null,
    registrationTime: 1700000000,
  };
}

export function pathInfoServiceSuite(test: TestFn, name: string, open: () => Promise<Store>): void {
  test(`${name}: PathInfo put/get/list/delete`, async (t) => {
    const store = await open();
    const a = samplePathInfo('0'.repeat(32), 'a');
    const b = { ...samplePathInfo('1'.repeat(32), 'b'), node: { type: 'symlink' as const, name: '', target: '/x' }, deriver: null, ca: 'text:sha256:0000000000000000000000000000000000000000000000000000' };
    await store.pathInfos.put(a);
    await store.pathInfos.put(b);
    t.deepEqual(await store.pathInfos.get('0'.repeat(32)), a);
    t.deepEqual(await store.pathInfos.get('1'.repeat(32)), b);
    t.is(await store.pathInfos.get('2'.repeat(32)), null);
    const all: string[] = [];
    for await (const p of store.pathInfos.list()) all.push(p.path);
    t.deepEqual(all.sort(), [a.path, b.path].sort());
    t.true(await store.pathInfos.delete('0'.repeat(32)));
    t.false(await store.pathInfos.delete('0'.repeat(32)));
    t.is(await store.pathInfos.get('0'.repeat(32)), null);
    await store.close();
  });

  test(`${name}: meta keys by prefix`, async (t) => {
    const store = await open();
    await store.meta.putMany([['x:1', Buffer.from('one')], ['x:2', Buffer.from('two')], ['y:1', Buffer.from('other')]]);
    t.is((await store.meta.get('x:1'))?.toString(), 'one');
    t.is(await store.meta.get('x:3'), null);
    const listed: string[] = [];
    for await (const [k, v] of store.meta.list('x:')) listed.push(`${k}=${v.toString()}`);
    t.deepEqual(listed, ['x:1=one', 'x:2=two']);
    await store.meta.delete('x:1');
    t.is(await store.meta.get('x:1'), null);
    await store.close();
  });
}
