import { jsonString } from './lib/format.js';
import { escapeXmlAttr } from './lib/xml.js';
// Value printing as nix-instantiate --eval prints it: Nix syntax (printValue), JSON, XML.
import { sourceText } from './errors.js';
import { printAttrName } from './lib/format.js';
import type { Pos } from './errors.js';
import {
  Lambda, NixAttrs, NixFloat, NixPath, NixString, PrimOp, PrimOpApp, Thunk, ThunkState, type Lazy, type Value,
} from './values.js';
import { coerceToString, copyPathToStore, force, isDerivation, callFunction } from './evaluator.js';
import { NixEvalError } from './errors.js';

/** C's printf("%g") with precision 6, as std::ostream prints doubles. */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const e = x.toExponential(5);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(e)!;
  const exp = parseInt(m[4]!, 10);
  if (exp < -4 || exp >= 6) {
    let mant = m[2]! + (m[3] ? '.' + m[3] : '');
    if (mant.includes('.')) mant = mant.replace(/0+$/, '').replace(/\.$/, '');
    const ae = Math.abs(exp);
    return `${m[1]}${mant}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  let f = x.toFixed(Math.max(0, 5 - exp));
  if (f.includes('.')) f = f.replace(/0+$/, '').replace(/\.$/, '');
  return f;
}

/** C++ std::to_string(double): printf("%f"). */
export function formatFloatFixed(x: number): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (Math.abs(x) < 1e21) return x.toFixed(6);
  return BigInt(Math.trunc(x)).toString() + '.000000';
}

/** Nix string literal syntax as printValue writes it. */
export function escapeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' || c === '\\') out += '\\' + c;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c === '$' && s[i + 1] === '{') out += '\\$';
    else out += c;
  }
  return out + '"';
}

/** printValue: forced thunks print as their value, unforced ones as <CODE>. */
export function printValue(v: Lazy): string {
  const seen = new Set<object>();
  const parts: string[] = [];
  const go = (x: Lazy): void => {
    if (x instanceof Thunk) {
      if (x.state !== ThunkState.Done) { parts.push('<CODE>'); return; }
      x = x.value;
    }
    switch (typeof x) {
      case 'bigint': case 'number': parts.push(String(x)); return;
      case 'boolean': parts.push(x ? 'true' : 'false'); return;
      case 'string': parts.push(escapeString(x)); return;
    }
    if (x === null) { parts.push('null'); return; }
    if (x instanceof NixFloat) { parts.push(formatFloat(x.v)); return; }
    if (x instanceof NixString) { parts.push(escapeString(x.s)); return; }
    if (x instanceof NixPath) { parts.push(x.path); return; }
    if (Array.isArray(x)) {
      if (x.length > 0 && seen.has(x)) { parts.push('«repeated»'); return; }
      seen.add(x);
      parts.push('[ ');
      for (const e of x) { go(e); parts.push(' '); }
      parts.push(']');
      return;
    }
    if (x instanceof NixAttrs) {
      if (x.size > 0 && seen.has(x.map)) { parts.push('«repeated»'); return; }
      seen.add(x.map);
      parts.push('{ ');
      for (const k of x.sortedNames()) { parts.push(printAttrName(k), ' = '); go(x.map.get(k)!); parts.push('; '); }
      parts.push('}');
      return;
    }
    if (x instanceof Lambda) { parts.push('<LAMBDA>'); return; }
    if (x instanceof PrimOp) { parts.push('<PRIMOP>'); return; }
    if (x instanceof PrimOpApp) { parts.push('<PRIMOP-APP>'); return; }
  };
  go(v);
  return parts.join('');
}

/** Forces a value and everything inside it (Nix's forceValueDeep). */
export function forceDeep(v: Lazy): void {
  const seen = new Set<object>();
  const go = (x: Lazy): void => {
    const y = force(x);
    if (Array.isArray(y)) {
      if (seen.has(y)) return;
      seen.add(y);
      for (const e of y) go(e);
    } else if (y instanceof NixAttrs) {
      if (seen.has(y)) return;
      seen.add(y);
      for (const [k, e] of y.map) {
        try {
          go(e);
        } catch (err) {
          // Nix's forceValueDeep: a frame for each attribute on the way (position or not).
          if (err instanceof NixEvalError) err.addTrace(y.posOf(k) ?? null, `while evaluating the attribute '${k}'`);
          throw err;
        }
      }
    }
  };
  go(v);
}

export { jsonString } from './lib/format.js';

/**
 * printValueAsJSON. Output goes to `out` piece by piece so that a failure leaves what Nix would
 * have written before it (nix-instantiate --json streams).
 */
export function printJSON(v: Lazy, strict: boolean, ctx: Set<string>, out: string[], at: Pos | NixAttrs | null = null, key = ''): void {
  // Nix's `pos` argument: the position of the attribute holding the value (given as its set and
  // name, looked up only on an error), else the caller's.
  const where = (): Pos | null => (at instanceof NixAttrs ? at.posOf(key) ?? null : at);
  let x: Value;
  if (strict) x = force(v);
  else if (v instanceof Thunk) {
    if (v.state !== ThunkState.Done) throw new NixEvalError('cannot convert a thunk to JSON', where()).addTrace(where(), 'message for the trace');
    x = v.value;
  } else x = v;
  switch (typeof x) {
    case 'bigint': case 'number': out.push(String(x)); return;
    case 'boolean': out.push(x ? 'true' : 'false'); return;
    case 'string': out.push(jsonString(x)); return;
  }
  if (x === null) { out.push('null'); return; }
  if (x instanceof NixFloat) { out.push(formatFloat(x.v)); return; }
  if (x instanceof NixString) { for (const c of x.ctx) ctx.add(c); out.push(jsonString(x.s)); return; }
  if (x instanceof NixPath) { out.push(jsonString(copyPathToStore(x.path, ctx, null))); return; }
  if (Array.isArray(x)) {
    // Nix's JSON writer closes open containers while an error unwinds: `[` … `]` even on failure.
    out.push('[');
    try { x.forEach((e, i) => { if (i > 0) out.push(','); printJSON(e, strict, ctx, out, at, key); }); } finally { out.push(']'); }
    return;
  }
  if (x instanceof NixAttrs) {
    const ts = x.map.get('__toString');
    if (ts !== undefined) {
      out.push(jsonString(coerceToString(callFunction(force(ts), x, null), ctx, false, false, null)));
      return;
    }
    const op = x.map.get('outPath');
    if (op !== undefined) { printJSON(op, strict, ctx, out, x, 'outPath'); return; }
    out.push('{');
    try {
      x.sortedNames().forEach((k, i) => {
        if (i > 0) out.push(',');
        out.push(jsonString(k), ':');
        printJSON(x.map.get(k)!, strict, ctx, out, x, k);
      });
    } finally { out.push('}'); }
    return;
  }
  throw new NixEvalError(`cannot convert ${x instanceof Lambda ? 'a function' : x instanceof PrimOp ? `the built-in function '${x.name}'` : `the partially applied built-in function '${(x as PrimOpApp).op.name}'`} to JSON`, x instanceof Lambda ? x.fn.pos : where()).addTrace(where(), 'message for the trace');
}

function xmlEscape(s: string): string {
  return escapeXmlAttr(s);
}

/** The `path` Nix shows for a position: the file, or the source text for «string» origins. */
export function posFile(pos: Pos): string {
  return pos.origin.startsWith('«') ? sourceText(pos.origin) ?? pos.origin : pos.origin;
}

/** XML attributes in name order (Nix keeps them in a std::map), with the position's column/line/path. */
function xmlAttrs(pos: Pos | null | undefined, extra: Record<string, string> = {}): string {
  const a: Record<string, string> = { ...extra };
  if (pos) { a.column = String(pos.col); a.line = String(pos.line); a.path = posFile(pos); }
  return Object.keys(a).sort().map((k) => ` ${k}="${xmlEscape(a[k]!)}"`).join('');
}

/** printValueAsXML, the whole document. */
export function printXML(v: Lazy, strict: boolean, ctx: Set<string>, location = true): string {
  const posAttrs = (pos: Pos | null | undefined, extra: Record<string, string> = {}) => xmlAttrs(location ? pos : null, extra);
  const out: string[] = ["<?xml version='1.0' encoding='utf-8'?>\n<expr>\n"];
  const drvsSeen = new Set<string>();
  const el = (ind: string, s: string) => out.push(ind + s + '\n');
  const go = (lv: Lazy, ind: string): void => {
    let x: Value;
    if (strict) x = force(lv);
    else if (lv instanceof Thunk) {
      if (lv.state !== ThunkState.Done) { el(ind, '<unevaluated />'); return; }
      x = lv.value;
    } else x = lv;
    switch (typeof x) {
      case 'bigint': case 'number': el(ind, `<int value="${x}" />`); return;
      case 'boolean': el(ind, `<bool value="${x}" />`); return;
      case 'string': el(ind, `<string value="${xmlEscape(x)}" />`); return;
    }
    if (x === null) { el(ind, '<null />'); return; }
    if (x instanceof NixFloat) { el(ind, `<float value="${formatFloat(x.v)}" />`); return; }
    if (x instanceof NixString) { for (const c of x.ctx) ctx.add(c); el(ind, `<string value="${xmlEscape(x.s)}" />`); return; }
    if (x instanceof NixPath) { el(ind, `<path value="${xmlEscape(x.path)}" />`); return; }
    if (Array.isArray(x)) {
      el(ind, '<list>');
      for (const e of x) go(e, ind + '  ');
      el(ind, '</list>');
      return;
    }
    if (x instanceof NixAttrs) {
      const attrsBody = (a: NixAttrs, i2: string) => {
        for (const k of a.sortedNames()) {
          el(i2, `<attr${posAttrs(a.posOf(k), { name: k })}>`);
          go(a.map.get(k)!, i2 + '  ');
          el(i2, '</attr>');
        }
      };
      if (isDerivation(x)) {
        // As Nix: drvPath and outPath are forced only when strict (else used if already values);
        // a derivation without a drvPath string, or one already shown, is <repeated />.
        const peek = (l: Lazy | undefined): Value | undefined =>
          l === undefined ? undefined : strict ? force(l) : l instanceof Thunk ? (l.state === ThunkState.Done ? l.value : undefined) : l;
        let attrs = '';
        let drvPath = '';
        const d = peek(x.map.get('drvPath'));
        if (typeof d === 'string' || d instanceof NixString) { drvPath = typeof d === 'string' ? d : d.s; attrs += ` drvPath="${xmlEscape(drvPath)}"`; }
        const o = peek(x.map.get('outPath'));
        if (typeof o === 'string' || o instanceof NixString) attrs += ` outPath="${xmlEscape(typeof o === 'string' ? o : o.s)}"`;
        el(ind, `<derivation${attrs}>`);
        if (drvPath !== '' && !drvsSeen.has(drvPath)) { drvsSeen.add(drvPath); attrsBody(x, ind + '  '); }
        else el(ind + '  ', '<repeated />');
        el(ind, '</derivation>');
        return;
      }
      el(ind, '<attrs>');
      attrsBody(x, ind + '  ');
      el(ind, '</attrs>');
      return;
    }
    if (x instanceof Lambda) {
      const fn = x.fn;
      el(ind, `<function${posAttrs(fn.pos)}>`);
      if (fn.formals) {
        el(ind + '  ', `<attrspat${fn.ellipsis ? ' ellipsis="1"' : ''}${fn.arg !== null ? ` name="${xmlEscape(fn.arg)}"` : ''}>`);
        for (const f of fn.formals) el(ind + '    ', `<attr name="${xmlEscape(f.name)}" />`);
        el(ind + '  ', '</attrspat>');
      } else el(ind + '  ', `<varpat name="${xmlEscape(fn.arg!)}" />`);
      el(ind, '</function>');
      return;
    }
    el(ind, '<unevaluated />');
  };
  go(v, '  ');
  out.push('</expr>\n');
  return out.join('');
}
