// Writing a PathInfo (see path-info-codec.ts): msgpack of a fixed-order tuple. Only writers load msgpackr.
import { Packr } from 'msgpackr/pack';
import type { Node } from '../castore/nodes.js';
import type { PathInfo } from './path-info.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });

export function encodeNode(n: Node): unknown[] {
  switch (n.type) {
    case 'directory': return ['d', n.name, n.digest, n.size];
    case 'file': return ['f', n.name, n.digest, n.size, n.executable];
    case 'symlink': return ['l', n.name, n.target];
  }
}

export function encodePathInfo(p: PathInfo): Buffer {
  return packr.pack([p.path, encodeNode(p.node), p.narHash, p.narSize, p.references, p.deriver, p.signatures, p.ca, p.registrationTime ?? 0]);
}
