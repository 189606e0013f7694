// builtins.fromJSON: a JSON parser giving Nix values (integers as 64-bit ints, others as floats).
import { NixEvalError, type Pos } from '../errors.js';
import { NixAttrs, type Lazy, type Value } from '../values.js';

export function fromJSON(text: string, pos: Pos | null): Value {
  let i = 0;
  const fail = (): never => { throw new NixEvalError(`syntax error while parsing JSON`, pos); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++; };
  const val = (): Value => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const m = new Map<string, Lazy>();
      ws();
      if (text[i] === '}') { i++; return new NixAttrs(m); }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = strLit();
        ws();
        if (text[i++] !== ':') fail();
        m.set(k, val());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return new NixAttrs(m); }
        fail();
      }
    }
    if (c === '[') {
      i++;
      const out: Lazy[] = [];
      ws();
      if (text[i] === ']') { i++; return out; }
      for (;;) {
        out.push(val());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return out; }
        fail();
      }
    }
    if (c === '"') return strLit();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) fail();
    i += r![0].length;
    if (r![2] === undefined && r![3] === undefined) {
      const b = BigInt(r![0]);
      if (b >= -(2n ** 63n) && b < 2n ** 63n) return b;
    }
    return parseFloat(r![0]);
  };
  const strLit = (): string => {
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail();
      const c = text[i++]!;
      if (c === '"') return out;
      if (c === '\\') {
        const e = text[i++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': { const h = text.slice(i, i + 4); if (!/^[0-9a-fA-F]{4}$/.test(h)) fail(); out += String.fromCharCode(parseInt(h, 16)); i += 4; break; }
          default: fail();
        }
      } else out += c;
    }
  };
  const v = val();
  ws();
  if (i !== text.length) fail();
  return v;
}
