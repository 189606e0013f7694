// STOPGAP values for the stopgap evaluator (see parser.ts): ints are bigints, strings carry a
// context set, attribute sets and lists hold lazy entries.
import type { Env } from './evaluator.js';
import type { Expr, Formals } from './parser.js';

export class NFloat { constructor(readonly v: number) {} }
export class NStr { constructor(readonly s: string, readonly ctx: Set<string>) {} }
export class NPath { constructor(readonly path: string) {} }
export class NAttrs { constructor(readonly m: Map<string, Lazy>) {} }
export class NLambda { constructor(readonly arg: string | null, readonly formals: Formals | null, readonly body: Expr, readonly env: Env) {} }
export class NPrimop {
  constructor(readonly name: string, readonly arity: number, readonly fn: (...args: Lazy[]) => Value, readonly args: Lazy[] = []) {}
}

export type Value = bigint | NFloat | boolean | null | string | NStr | NPath | NAttrs | Lazy[] | NLambda | NPrimop;

export class Thunk {
  private state: 0 | 1 | 2 = 0;
  private v: Value = null;
  constructor(private compute: (() => Value) | null) {}
  force(): Value {
    if (this.state === 2) return this.v;
    if (this.state === 1) throw new EvalError('infinite recursion encountered');
    this.state = 1;
    try {
      this.v = this.compute!();
    } catch (e) {
      this.state = 0;
      throw e;
    }
    this.compute = null;
    this.state = 2;
    return this.v;
  }
}

export type Lazy = Thunk | Value;

export function force(l: Lazy): Value {
  return l instanceof Thunk ? l.force() : l;
}

import { TsixError } from '../../../store/errors.js';
export class EvalError extends TsixError {
  constructor(message: string) {
    super('E_EVAL', message);
  }
}

export function typeName(v: Value): string {
  if (typeof v === 'bigint') return 'an integer';
  if (v instanceof NFloat) return 'a float';
  if (typeof v === 'boolean') return 'a Boolean';
  if (v === null) return 'null';
  if (typeof v === 'string' || v instanceof NStr) return 'a string';
  if (v instanceof NPath) return 'a path';
  if (v instanceof NAttrs) return 'a set';
  if (Array.isArray(v)) return 'a list';
  return 'a function';
}

export function typeOf(v: Value): string {
  if (typeof v === 'bigint') return 'int';
  if (v instanceof NFloat) return 'float';
  if (typeof v === 'boolean') return 'bool';
  if (v === null) return 'null';
  if (typeof v === 'string' || v instanceof NStr) return 'string';
  if (v instanceof NPath) return 'path';
  if (v instanceof NAttrs) return 'set';
  if (Array.isArray(v)) return 'list';
  return 'lambda';
}
