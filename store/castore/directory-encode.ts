// Writing the canonical directory encoding (see directory-codec.ts): msgpack of fixed-order
// tuples. Only writers load msgpackr; readers decode with the store's own reader.
import { Packr } from 'msgpackr/pack';
import type { Directory } from './nodes.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true, moreTypes: false, bundleStrings: false });

type DirTuple = [name: string, digest: Buffer, size: number];
type FileTuple = [name: string, digest: Buffer, size: number, executable: boolean];
type LinkTuple = [name: string, target: string];

export function encodeDirectory(d: Directory): Buffer {
  const tuple: [DirTuple[], FileTuple[], LinkTuple[]] = [
    d.directories.map((e) => [e.name, e.digest, e.size]),
    d.files.map((e) => [e.name, e.digest, e.size, e.executable]),
    d.symlinks.map((e) => [e.name, e.target]),
  ];
  return packr.pack(tuple);
}

