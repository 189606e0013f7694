// Nix 2.8's Expr::show rendering (used in "assertion '…' failed" messages).
import {
  ExprAssert, ExprAttrs, ExprBinBool, ExprCall, ExprConcatLists, ExprConcatStrings, ExprConst, ExprEq, ExprHasAttr, ExprIf,
  ExprLambda, ExprLet, ExprList, ExprNot, ExprPos, ExprPrimCall, ExprSearchPath, ExprSelect, ExprUpdate, ExprVar, ExprWith,
  type AttrName, type Expr,
} from './ast.js';
import { NixFloat, NixPath } from './values.js';
import { escapeString, formatFloat } from './print.js';

function showAttrPath(p: AttrName[]): string {
  return p.map((n) => (typeof n === 'string' ? n : `"\${${showExprDefault(n)}}"`)).join('.');
}

const PRIM: Record<string, string> = { '-': '__sub', '*': '__mul', '/': '__div', '<': '__lessThan' };

export function showExprDefault(e: Expr): string {
  const s = showExprDefault;
  if (e instanceof ExprConst) {
    const v = e.v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    if (v instanceof NixFloat) return formatFloat(v.v);
    if (typeof v === 'string') return escapeString(v);
    if (v instanceof NixPath) return v.path;
    return String(v);
  }
  if (e instanceof ExprVar) return e.name;
  if (e instanceof ExprSelect) return `(${s(e.e)}).${showAttrPath(e.path)}${e.def ? ` or (${s(e.def)})` : ''}`;
  if (e instanceof ExprHasAttr) return `((${s(e.e)}) ? ${showAttrPath(e.path)})`;
  if (e instanceof ExprAttrs) {
    let out = e.rec ? 'rec { ' : '{ ';
    for (const [k, d] of e.attrs) out += d.inherited ? `inherit ${k}; ` : `${k} = ${s(d.e)}; `;
    for (const d of e.dynamic) out += `"\${${s(d.name)}}" = ${s(d.e)}; `;
    return out + '}';
  }
  if (e instanceof ExprList) return `[ ${e.elems.map((x) => `(${s(x)}) `).join('')}]`;
  if (e instanceof ExprLambda) {
    let out = '(';
    if (e.formals) {
      out += '{ ' + e.formals.map((f) => f.name + (f.def ? ` ? ${s(f.def)}` : '')).join(', ');
      if (e.ellipsis) out += (e.formals.length ? ', ' : '') + '...';
      out += ' }';
      if (e.arg !== null) out += ' @ ';
    }
    if (e.arg !== null) out += e.arg;
    return out + `: ${s(e.body)})`;
  }
  if (e instanceof ExprCall) return `(${s(e.fn)}${e.args.map((a) => ' ' + s(a)).join('')})`;
  if (e instanceof ExprLet) {
    let out = '(let ';
    for (const [k, d] of e.attrs.attrs) out += d.inherited ? `inherit ${k}; ` : `${k} = ${s(d.e)}; `;
    return out + `in ${s(e.body)})`;
  }
  if (e instanceof ExprWith) return `(with ${s(e.attrs)}; ${s(e.body)})`;
  if (e instanceof ExprIf) return `(if ${s(e.c)} then ${s(e.t)} else ${s(e.e)})`;
  if (e instanceof ExprAssert) return `assert ${s(e.c)}; ${s(e.body)}`;
  if (e instanceof ExprNot) return `(! ${s(e.e)})`;
  if (e instanceof ExprBinBool) return `(${s(e.a)} ${e.op} ${s(e.b)})`;
  if (e instanceof ExprEq) return `(${s(e.a)} ${e.neg ? '!=' : '=='} ${s(e.b)})`;
  if (e instanceof ExprUpdate) return `(${s(e.a)} // ${s(e.b)})`;
  if (e instanceof ExprConcatLists) return `(${s(e.a)} ++ ${s(e.b)})`;
  if (e instanceof ExprConcatStrings) return `(${e.parts.map(s).join(' + ')})`;
  if (e instanceof ExprPrimCall) return `(${PRIM[e.op]} ${s(e.args[0]!)} ${s(e.args[1]!)})`;
  if (e instanceof ExprSearchPath) return `<${e.name}>`;
  if (e instanceof ExprPos) return '__curPos';
  return '?';
}
