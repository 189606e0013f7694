// nix-instantiate --eval's processing: evaluate the expression or files, select -A paths, auto-call
// with --arg/--argstr, print as Nix, JSON or XML.
import type { EvalArgs } from './cli.js';
import { NixEvalError, setShowTrace } from './errors.js';
import { NixEvaluator, parseSearchPath } from './nix-evaluator.js';
import { forceDeep, printJSON, printValue, printXML } from './print.js';
import { setTraceSink } from './trace.js';
import { determinePos, force, type StoreAdapter } from './evaluator.js';
import { canonPath } from './paths.js';
import { Thunk, type Lazy, type Value } from './values.js';

export interface Output { out(s: string): void; err(s: string): void; }

export function runEval(args: EvalArgs, cwd: string, stdinText: string | null, io: Output, store: StoreAdapter): number {
  setTraceSink(io.err);
  setShowTrace(args.showTrace);
  const searchPath = parseSearchPath([...args.includes, ...(process.env.NIX_PATH ?? '').split(':')]);
  const ev = new NixEvaluator({ searchPath, store });
  const autoArgs = new Map<string, Lazy>();
  for (const a of args.args) {
    autoArgs.set(a.name, a.isString ? a.value : new Thunk(null, null, () => ev.evalString(a.value, cwd)));
  }
  const roots: (() => Value)[] = [];
  if (args.readStdin && stdinText !== null) roots.push(() => ev.evalString(stdinText, cwd, '«stdin»'));
  else if (args.expr !== null) roots.push(() => ev.evalString(args.expr!, cwd));
  else if (args.files.length === 0) roots.push(() => ev.evalFile(canonPath(`${cwd}/default.nix`)));
  else for (const f of args.files) roots.push(() => ev.evalFile(resolveFileArg(ev, f, cwd)));
  const attrPaths = args.attrPaths.length ? args.attrPaths : [''];
  try {
    for (const root of roots) {
      const r = root();
      for (const ap of attrPaths) {
        let v = force(ev.findAlongAttrPath(r, ap, autoArgs));
        if (autoArgs.size > 0) v = force(ev.autoCall(v, autoArgs));
        print(v, args, io);
      }
    }
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new NixEvalError('stack overflow (possible infinite recursion)');
    throw e;
  }
  return 0;
}

function resolveFileArg(ev: NixEvaluator, f: string, cwd: string): string {
  if (f.startsWith('<') && f.endsWith('>')) {
    const v = force(ev.evalString(f, cwd));
    return (v as { path: string }).path;
  }
  return canonPath(f.startsWith('/') ? f : `${cwd}/${f}`);
}

function print(v: Value, args: EvalArgs, io: Output): void {
  const ctx = new Set<string>();
  if (args.output === 'json') {
    const out: string[] = [];
    // Nix passes v.determinePos(noPos): a set literal's or a function's position.
    const at = determinePos(v, null);
    try { printJSON(v, args.strict, ctx, out, at); } catch (e) { io.out(out.join('')); throw e; }
    io.out(out.join(''));
  } else if (args.output === 'xml') {
    io.out(printXML(v, args.strict, ctx, !args.noLocation));
  } else {
    if (args.strict) forceDeep(v);
    io.out(printValue(v) + '\n');
  }
}
