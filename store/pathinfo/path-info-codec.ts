// PathInfo encoding: msgpack of a fixed-order tuple. Written by path-info-encode.ts (msgpackr),
// read here with the store's own msgpack reader (readers need not load msgpackr).
import { readMsgpack } from '../castore/msgpack-read.js';
import type { Node } from '../castore/nodes.js';
import { CorruptionError } from '../errors.js';
import type { PathInfo } from './path-info.js';

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

export function decodePathInfo(raw: Buffer): PathInfo {
  let t: unknown;
  try { t = readMsgpack(raw); } catch { t = null; }
  if (!Array.isArray(t) || t.length !== 9) throw new CorruptionError('PathInfo record is malformed');
  const [path, node, narHash, narSize, references, deriver, signatures, ca, registrationTime] = t;
  return { path, node: decodeNode(node), narHash: Buffer.from(narHash), narSize, references, deriver, signatures, ca, registrationTime };
}
