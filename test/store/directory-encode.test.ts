// The hand-written directory encoder against msgpackr (which wrote every stored directory so
// far): the same bytes, so one tree keeps one digest.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import { encodeDirectory } from '../../store/castore/directory-encode.js';
import { decodeDirectory } from '../../store/castore/directory-codec.js';
import type { Directory } from '../../store/castore/nodes.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true, moreTypes: false, bundleStrings: false });

function msgpackr(d: Directory): Buffer {
  return packr.pack([
    d.directories.map((e) => [e.name, e.digest, e.size]),
    d.files.map((e) => [e.name, e.digest, e.size, e.executable]),
    d.symlinks.map((e) => [e.name, e.target]),
  ]);
}

const SIZES = [0, 1, 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
const NAMES = ['a', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(255), 'é'.repeat(15), 'é'.repeat(16), '名'.repeat(85), '😀'.repeat(8), 'mixed ✓ name', 'with\u{ffff}'];

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function directory(entries: number, sizeOf: (i: number) => number, targetLength: number): Directory {
  const names = Array.from({ length: entries }, (_, i) => `${NAMES[i % NAMES.length]!.slice(0, 60)}-${i}`).sort(byBytes);
  const d: Directory = { directories: [], files: [], symlinks: [] };
  names.forEach((name, i) => {
    if (i % 3 === 0) d.directories.push({ name, digest: randomBytes(32), size: sizeOf(i) });
    else if (i % 3 === 1) d.files.push({ name, digest: randomBytes(32), size: sizeOf(i), executable: i % 2 === 0 });
    else d.symlinks.push({ name, target: NAMES[i % NAMES.length]!.repeat(Math.max(1, Math.floor(targetLength / 10))).slice(0, 1000) });
  });
  return d;
}

test('encodeDirectory writes what msgpackr writes, across list lengths, sizes, names and targets', (t) => {
  const cases: Directory[] = [
    { directories: [], files: [], symlinks: [] },
    ...NAMES.map((name, i) => ({ directories: [], files: [{ name, digest: randomBytes(32), size: SIZES[i % SIZES.length]!, executable: true }], symlinks: [] })),
    ...SIZES.map((size) => ({ directories: [{ name: 'd', digest: randomBytes(32), size }], files: [{ name: 'f', digest: randomBytes(32), size, executable: false }], symlinks: [] })),
    { directories: [], files: [], symlinks: [{ name: 'l', target: 't'.repeat(4095) }, { name: 'm', target: '/' + 'ü'.repeat(300) }] },
  ];
  for (const n of [15, 16, 17, 47, 48, 300]) cases.push(directory(n, (i) => SIZES[i % SIZES.length]!, n));
  // More than 65535 entries in one list: the msgpackr path.
  const many = Array.from({ length: 0x10000 }, (_, i) => `f${i}`).sort(byBytes);
  cases.push({ directories: [], files: many.map((name, i) => ({ name, digest: randomBytes(32), size: i, executable: false })), symlinks: [] });
  for (const d of cases) {
    const ours = encodeDirectory(d);
    if (!ours.equals(msgpackr(d))) { t.fail(`differs for ${JSON.stringify(d).slice(0, 200)}`); continue; }
    t.deepEqual(decodeDirectory(ours), d);
  }
  t.pass();
});
