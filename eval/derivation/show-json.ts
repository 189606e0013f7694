// `nix show-derivation` JSON exactly as Nix 2.8 prints it (its own JSON writer: two-space
// indent, `": "`, only control characters escaped as \u00XX besides \" \\ \n \r \t).
import { compareBytes, outputKind, sortedKeys, type Derivation } from './derivation.js';

/** Nix's toJSON for strings. */
export function nixJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 32 && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(start, i);
    start = i + 1;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else out += '\\u' + c.toString(16).padStart(4, '0');
  }
  return out + s.slice(start) + '"';
}

// Objects are entry lists (order matters); arrays of strings are lists. Distinguish with a tag.
type JObj = { obj: [string, JVal][] };
type JVal = string | boolean | { list: string[] } | JObj;

function write(v: JVal, depth: number): string {
  if (typeof v === 'string') return nixJsonString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const pad = '\n' + '  '.repeat(depth + 1);
  const end = '\n' + '  '.repeat(depth);
  if ('list' in v) {
    if (v.list.length === 0) return '[]';
    return '[' + v.list.map((s) => pad + nixJsonString(s)).join(',') + end + ']';
  }
  if (v.obj.length === 0) return '{}';
  return '{' + v.obj.map(([k, x]) => pad + nixJsonString(k) + ': ' + write(x, depth + 1)).join(',') + end + '}';
}

function derivationObject(drv: Derivation): JObj {
  const outputs: [string, JVal][] = sortedKeys(drv.outputs).map((name) => {
    const o = drv.outputs.get(name)!;
    const fields: [string, JVal][] = [];
    switch (outputKind(o)) {
      case 'inputAddressed': fields.push(['path', o.path]); break;
      case 'fixed': fields.push(['path', o.path], ['hashAlgo', o.hashAlgo], ['hash', o.hash]); break;
      case 'floating': fields.push(['hashAlgo', o.hashAlgo]); break;
      case 'impure': fields.push(['hashAlgo', o.hashAlgo], ['impure', true]); break;
      case 'deferred': break;
    }
    return [name, { obj: fields }];
  });
  return {
    obj: [
      ['outputs', { obj: outputs }],
      ['inputSrcs', { list: sortedKeys(drv.inputSrcs) }],
      ['inputDrvs', { obj: sortedKeys(drv.inputDrvs).map((p) => [p, { list: sortedKeys(drv.inputDrvs.get(p)!) }] as [string, JVal]) }],
      ['system', drv.system],
      ['builder', drv.builder],
      ['args', { list: drv.args }],
      ['env', { obj: sortedKeys(drv.env).map((k) => [k, drv.env.get(k)!] as [string, JVal]) }],
    ],
  };
}

/**
 * The whole output of `nix show-derivation` for some derivations (keyed by .drv path; Nix
 * prints them in store path order, each once), including the final newline.
 */
export function showDerivationJson(drvs: Map<string, Derivation>): string {
  const paths = [...drvs.keys()].sort(compareBytes);
  return write({ obj: paths.map((p) => [p, derivationObject(drvs.get(p)!)]) }, 0) + '\n';
}
