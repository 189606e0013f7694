// copyClosure's ordering guarantees, now that transfers start while the closure is still being
// looked up: metadata references first, nothing registered when part of the closure is missing,
// and no hang on a reference cycle (which Nix forbids but a hostile source may present).
import test from 'ava';
import { makeStorePath } from '../../store/nix/store-path.js';
import { openStore } from '../../store/open-store.js';
import type { PathInfo } from '../../store/pathinfo/path-info.js';
import type { Store } from '../../store/store.js';
import { copyClosure, StoreDestination, StoreSource, type TransferEvent } from '../../store/cache/transfer.js';
import { NotFoundError } from '../../store/errors.js';
import { scratch, tsixOpaquePath, type Scratch } from './fixtures.js';

let s: Scratch;
test.before(async () => { s = await scratch('tsix-transfer-'); });
test.after.always(async () => { await s?.cleanup(); });

/** A diamond-rich closure of `n` paths: path i refers to i-1 and i/2 (and the top to all). */
async function closure(store: Store, n: number): Promise<PathInfo[]> {
  const infos: PathInfo[] = [];
  for (let i = 0; i < n; i++) {
    const refs = i === 0 ? [] : [...new Set([infos[i - 1]!.path, infos[Math.floor(i / 2)]!.path])];
    infos.push(await tsixOpaquePath(store, s.dir, `p${i}`, `path ${i} ${refs.join(' ')}\n${'x'.repeat(i * 100)}`, refs));
  }
  infos.push(await tsixOpaquePath(store, s.dir, 'top', 'top\n', infos.map((i) => i.path)));
  return infos;
}

test('a path is registered only after all its references (checked on every "done")', async (t) => {
  const src = await openStore('memory://');
  const dst = await openStore('memory://');
  try {
    const infos = await closure(src, 40);
    const top = infos[infos.length - 1]!;
    const refsOf = new Map(infos.map((i) => [i.path, i.references]));
    const done = new Set<string>();
    const violations: string[] = [];
    const onEvent = (e: TransferEvent) => {
      if (e.kind !== 'done') return;
      for (const r of refsOf.get(e.path) ?? []) if (r !== e.path && !done.has(r)) violations.push(`${e.path} before ${r}`);
      done.add(e.path);
    };
    const r = await copyClosure(new StoreSource(src), new StoreDestination(dst), [top.path], { jobs: 4, onEvent });
    t.deepEqual(violations, []);
    t.is(r.copied.length, infos.length);
    for (const i of infos) t.truthy(await dst.pathInfos.get(i.path.slice(11, 43)), i.path);
  } finally { await src.close(); await dst.close(); }
});

test('a closure with a path missing from the source registers nothing', async (t) => {
  const src = await openStore('memory://');
  const dst = await openStore('memory://');
  try {
    const infos = await closure(src, 12);
    const absent = makeStorePath('output:out', 'f'.repeat(64), 'absent');
    const top = await tsixOpaquePath(src, s.dir, 'top-missing', 'top\n', [infos[11]!.path, absent]);
    await t.throwsAsync(copyClosure(new StoreSource(src), new StoreDestination(dst), [top.path], { jobs: 4 }), { instanceOf: NotFoundError });
    for (const i of [...infos, top]) t.is(await dst.pathInfos.get(i.path.slice(11, 43)), null, i.path);
  } finally { await src.close(); await dst.close(); }
});

test('a reference cycle does not leave the copy waiting forever', async (t) => {
  const src = await openStore('memory://');
  const dst = await openStore('memory://');
  try {
    const a = await tsixOpaquePath(src, s.dir, 'cycle-a', 'a\n');
    const b = await tsixOpaquePath(src, s.dir, 'cycle-b', 'b\n', [a.path]);
    // a now also refers to b: a cycle of two.
    await src.pathInfos.put({ ...a, references: [b.path].sort() });
    const r = await copyClosure(new StoreSource(src), new StoreDestination(dst), [b.path], { jobs: 2 });
    t.is(r.copied.length, 2);
    t.truthy(await dst.pathInfos.get(a.path.slice(11, 43)));
    t.truthy(await dst.pathInfos.get(b.path.slice(11, 43)));
  } finally { await src.close(); await dst.close(); }
});
