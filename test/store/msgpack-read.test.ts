// The store's msgpack reader against msgpackr's decoder, on what msgpackr writes for store
// records (directories, PathInfos) and on values of every type they may hold; malformed input
// is refused.
import test from 'ava';
import { Packr, Unpackr } from 'msgpackr/pack';
import { readMsgpack } from '../../store/castore/msgpack-read.js';
import { encodeDirectory } from '../../store/castore/directory-encode.js';
import { decodeDirectory, directoryDigest } from '../../store/castore/directory-codec.js';
import { encodePathInfo } from '../../store/pathinfo/path-info-encode.js';
import { decodePathInfo } from '../../store/pathinfo/path-info-codec.js';
import type { Directory } from '../../store/castore/nodes.js';
import { seededBytes } from '../helpers/trees.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });

function same(t: import('ava').ExecutionContext, v: unknown): void {
  const bytes = packr.pack(v);
  t.deepEqual(norm(readMsgpack(bytes)), norm(unpackr.unpack(bytes)), JSON.stringify(norm(v))?.slice(0, 80));
}

/** Binaries compared by their bytes (views and copies alike). */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bin:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(norm);
  return v;
}

test('every scalar and container type store records use reads as msgpackr reads it', (t) => {
  const numbers = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 1.5, -0.25, 1733212800123];
  for (const n of numbers) same(t, n);
  for (const v of [null, true, false, '', 'a', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(255), 'w'.repeat(256), 'v'.repeat(70_000), 'é', 'ünïcödé-名前 😀', '\u0000']) same(t, v);
  for (const n of [0, 1, 255, 256, 65535, 65536]) same(t, seededBytes(n, n + 1));
  for (const n of [0, 1, 15, 16, 65535, 65536]) same(t, Array.from({ length: n }, (_, i) => i % 3));
  same(t, [[['a', seededBytes(32, 1), 3]], [['b', seededBytes(32, 2), 2 ** 40, true]], [['c', '/target']]]);
});

test('directories and PathInfos written by msgpackr read back equal', (t) => {
  for (let k = 0; k < 50; k++) {
    const names = Array.from({ length: k * 7 }, (_, i) => `n${String(i).padStart(4, '0')}${k % 3 === 0 ? 'é' : ''}`);
    const d: Directory = { directories: [], files: [], symlinks: [] };
    names.forEach((name, i) => {
      if (i % 3 === 0) d.directories.push({ name, digest: seededBytes(32, i + 1), size: i * 1000 });
      else if (i % 3 === 1) d.files.push({ name, digest: seededBytes(32, i + 2), size: i * 2 ** 33, executable: i % 2 === 0 });
      else d.symlinks.push({ name, target: `../t/${i}` });
    });
    const enc = encodeDirectory(d);
    t.deepEqual(decodeDirectory(enc, directoryDigest(enc)), d);
  }
  const info = {
    path: '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x', node: { type: 'directory' as const, name: '', digest: seededBytes(32, 9), size: 12 },
    narHash: seededBytes(32, 10), narSize: 2 ** 41 + 5, references: ['/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x'], deriver: null,
    signatures: ['cache:abc=='], ca: 'fixed:r:sha256:abc', registrationTime: 1733212800,
  };
  t.deepEqual(decodePathInfo(encodePathInfo(info)), info);
  t.deepEqual(decodePathInfo(encodePathInfo({ ...info, node: { type: 'file', name: '', digest: seededBytes(32, 11), size: 0, executable: true }, deriver: '/nix/store/x.drv', ca: null })).node.type, 'file');
});

test('malformed input is refused, never read past its end', (t) => {
  const good = packr.pack([['a', seededBytes(32, 1), 3], 'tail']);
  for (let n = 0; n < good.length; n++) t.throws(() => readMsgpack(good.subarray(0, n)), undefined, `truncated to ${n}`);
  t.throws(() => readMsgpack(Buffer.concat([good, Buffer.from([0])])), { message: /after the value/ });
  t.throws(() => readMsgpack(Buffer.from([0x81, 0xa1, 0x61, 0x01])), { message: /not used/ }, 'a map');
  t.throws(() => readMsgpack(Buffer.from([0xd4, 0x01, 0x00])), { message: /not used/ }, 'an extension');
  t.throws(() => readMsgpack(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])), { message: /truncated/ }, 'a huge array count');
});
