// PathInfo encoding: msgpack of a fixed-order tuple.
// msgpackr/pack: the same Packr without the native string extractor, whose loading (detect-libc,
// node-gyp-build, a .node file) cost ~15 ms of every start-up; short names decode as fast in JS.
import { Packr } from 'msgpackr/pack';
import type { Node } from '../castore/nodes.js';
import { CorruptionError } from '../errors.js';
import type { PathInfo } from './path-info.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });

export function encodeNode(n: Node): unknown[] {
  switch (n.type) {
    case 'directory': return ['d', n.name, n.digest, n.size];
    case 'file': return ['f', n.name, n.digest, n.size, n.executable];
    case 'symlink': return ['l', n.name, n.target];
  }
}

export function decodeNode(t: unknown): Node {
  if (!Array.isArray(t)) throw new CorruptionError('node is not a tuple');
  const buf = (v: unknown) => Buffer.from(v as Uint8Array);
  switch (t[0]) {
    case 'd': return { type: 'directory', name: t[1], digest: buf(t[2]), size: t[3] };
    case 'f': return { type: 'file', name: t[1], digest: buf(t[2]), size: t[3], executable: t[4] };
    case 'l': return { type: 'symlink', name: t[1], target: t[2] };
    default: throw new CorruptionError(`unknown node type ${String(t[0])}`);
  }
}

export function encodePathInfo(p: PathInfo): Buffer {
  return packr.pack([p.path, encodeNode(p.node), p.narHash, p.narSize, p.references, p.deriver, p.signatures, p.ca, p.registrationTime ?? 0]);
}

export function decodePathInfo(raw: Buffer): PathInfo {
  let t: unknown;
  try { t = packr.unpack(raw); } catch { t = null; }
  if (!Array.isArray(t) || t.length !== 9) throw new CorruptionError('PathInfo record is malformed');
  const [path, node, narHash, narSize, references, deriver, signatures, ca, registrationTime] = t;
  return { path, node: decodeNode(node), narHash: Buffer.from(narHash), narSize, references, deriver, signatures, ca, registrationTime };
}
