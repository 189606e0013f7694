// What nix-instantiate does after evaluation: find the derivations in a value (Nix's
// getDerivations) and print `<drvPath>[!<output>]` for each.
import { DerivationEvalError } from './session.js';
import type { DrvHost } from './primops.js';

/** The parts of an evaluator nix-instantiate needs. */
export interface InstantiateEvaluator<V> {
  host: DrvHost<V>;
  /** Forces a value and tells its kind. */
  kind(v: V): 'attrs' | 'list' | 'function' | 'other';
  /** Nix's autoCallFunction: calls a function with the --arg/--argstr values it asks for (defaults otherwise); other values unchanged. */
  autoCall(v: V, autoArgs: Map<string, V>): V;
  /** Nix's findAlongAttrPath (`-A a.b.0`), auto-calling functions on the way. */
  findAlongAttrPath(v: V, attrPath: string, autoArgs: Map<string, V>): V;
  /** Identity of an attribute set (so the same set reached twice counts once). */
  identity(v: V): object;
}

export interface FoundDerivation { attrPath: string; drvPath: string; outputName: string }

const ATTR_NAME = /^[A-Za-z_][A-Za-z0-9\-_+]*$/;

function isDerivation<V>(ev: InstantiateEvaluator<V>, v: V): boolean {
  if (ev.kind(v) !== 'attrs') return false;
  const t = ev.host.attrs(v).get('type');
  if (t === undefined) return false;
  try {
    return ev.host.forceStringNoCtx(t) === 'derivation';
  } catch {
    return false;
  }
}

/** Nix's getDerivations: derivations in a value, descending only where Nix does. */
export function getDerivations<V>(ev: InstantiateEvaluator<V>, root: V, autoArgs: Map<string, V>): FoundDerivation[] {
  const out: FoundDerivation[] = [];
  const done = new Set<object>();

  /** Adds `v` if it is a derivation; true if the caller should look inside it instead. */
  const take = (v: V, attrPath: string): boolean => {
    if (!isDerivation(ev, v)) return true;
    const id = ev.identity(v);
    if (done.has(id)) return false;
    done.add(id);
    const attrs = ev.host.attrs(v);
    const nameV = attrs.get('name');
    if (nameV === undefined) throw new DerivationEvalError('derivation name missing', { attrPath });
    ev.host.forceStringNoCtx(nameV);
    const drvV = attrs.get('drvPath');
    if (drvV === undefined) throw new DerivationEvalError(`derivation does not contain a 'drvPath' attribute`, { attrPath });
    const drvPath = ev.host.coerceToString(drvV, new Set());
    const onV = attrs.get('outputName');
    const outputName = onV === undefined ? '' : ev.host.forceStringNoCtx(onV);
    if (outputName === '') throw new DerivationEvalError(`derivation '${drvPath}' lacks an 'outputName' attribute`, { drvPath });
    out.push({ attrPath, drvPath, outputName });
    return false;
  };

  const walk = (vIn: V, prefix: string): void => {
    const v = ev.autoCall(vIn, autoArgs);
    if (!take(v, prefix)) return;
    const kind = ev.kind(v);
    if (kind === 'attrs') {
      const attrs = ev.host.attrs(v);
      const combine = attrs.has('_combineChannels');
      for (const name of [...attrs.keys()].sort()) {
        if (!ATTR_NAME.test(name)) continue;
        const child = attrs.get(name)!;
        const path = prefix ? `${prefix}.${name}` : name;
        if (combine) walk(child, path);
        else if (take(child, path) && ev.kind(child) === 'attrs') {
          const r = ev.host.attrs(child).get('recurseForDerivations');
          if (r !== undefined && ev.host.forceBool(r)) walk(child, path);
        }
      }
    } else if (kind === 'list') {
      ev.host.forceList(v).forEach((elem, n) => {
        const path = prefix ? `${prefix}.${n}` : String(n);
        if (take(elem, path)) walk(elem, path);
      });
    } else {
      throw new DerivationEvalError('expression does not evaluate to a derivation (or a set or list of those)');
    }
  };

  walk(root, '');
  return out;
}

/** One line of nix-instantiate output. */
export function instantiateLine(d: FoundDerivation): string {
  return d.drvPath + (d.outputName !== 'out' ? '!' + d.outputName : '');
}
