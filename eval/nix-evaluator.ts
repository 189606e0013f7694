// The evaluator's public face: an EvalState with the base environment (builtins), the search
// path, file import (cached per file), and entry points to evaluate strings and files.
import { readFileSync, statSync } from 'node:fs';
import { DERIVATION_NIX_ORIGIN, Scope, type Env, type Expr } from './ast.js';
import { builtinEntries, setBuiltinHost, COREPKGS_DIR } from './builtins/index.js';
import { NixEvalError, type Pos } from './errors.js';
import { callFunction, force, forceAttrs, hooks, type StoreAdapter } from './evaluator.js';
import { parse } from './parser.js';
import { lazyNative } from './evaluator.js';
import { COREPKGS, DERIVATION_NIX } from './derivation/corepkgs.js';
import { canonPath, dirOf } from './paths.js';
import { hostPathOf } from './ifd/store-reads.js';
import { Lambda, NixAttrs, NixPath, mkAttrs, type Lazy, type Value } from './values.js';

export interface SearchPathEntry { prefix: string; path: string; }

export interface EvaluatorOptions {
  /** -I entries followed by NIX_PATH entries, in lookup order. */
  searchPath?: SearchPathEntry[];
  store?: StoreAdapter | null;
}

/** Parses NIX_PATH / -I syntax (`prefix=path` or `path`, `:`-separated). */
export function parseSearchPath(entries: string[]): SearchPathEntry[] {
  return entries.filter((e) => e !== '').map((e) => {
    const eq = e.indexOf('=');
    return eq < 0 ? { prefix: '', path: e } : { prefix: e.slice(0, eq), path: e.slice(eq + 1) };
  });
}

export class NixEvaluator {
  readonly baseScope: Scope;
  readonly baseEnv: Env;
  private readonly fileCache = new Map<string, Value>();

  constructor(opts: EvaluatorOptions = {}) {
    hooks.store = opts.store ?? null;
    const names = new Map<string, number>();
    // The top frame (see Env): variable i in slot i + 1.
    const vars: Env = [null];
    const bind = (n: string, v: Lazy) => {
      const i = names.get(n);
      if (i !== undefined) vars[i + 1] = v;
      else { names.set(n, vars.length - 1); vars.push(v); }
    };
    const builtinsMap = new Map<string, Lazy>();
    const builtins = new NixAttrs(builtinsMap);
    const nixPath: Lazy[] = (opts.searchPath ?? []).map((e) => mkAttrs({ prefix: e.prefix, path: e.path }));
    for (const [name, e] of builtinEntries()) {
      builtinsMap.set(name, e.value);
      bind('__' + name, e.value);
      if (e.global) bind(name, e.value);
    }
    builtinsMap.set('nixPath', nixPath);
    bind('__nixPath', nixPath);
    // The time an evaluator is made, as in Nix (not when this module was loaded: a daemon loads
    // it once for many evaluations, and `tsix eval` from its start-up snapshot before it ran).
    const now = Math.floor(Date.now() / 1000);
    builtinsMap.set('currentTime', now);
    bind('__currentTime', now);
    builtinsMap.set('builtins', builtins);
    bind('builtins', builtins);
    this.baseScope = new Scope(null, names);
    this.baseEnv = vars;
    // `derivation` is Nix code around derivationStrict (eval/derivation registers that primop).
    this.defineGlobal('derivation', lazyNative(() => this.evalString(DERIVATION_NIX, '/', DERIVATION_NIX_ORIGIN)));
    setBuiltinHost({
      importFile: (path, scope, pos) => this.importFile(path, scope, pos),
      nixPath: () => nixPath,
    });
  }

  /** Binds a late global (e.g. `derivation`, written in Nix) after construction. */
  defineGlobal(name: string, value: Lazy): void {
    (this.baseScope.names as Map<string, number>).set(name, this.baseEnv.length - 1);
    this.baseEnv.push(value);
    const b = force(this.baseEnv[this.baseScope.names!.get('builtins')! + 1] as Lazy) as NixAttrs;
    b.map.set(name, value);
  }

  parseString(src: string, baseDir: string, origin = '«string»'): Expr {
    return parse(src, origin, baseDir, this.baseScope);
  }

  evalString(src: string, baseDir: string, origin = '«string»'): Value {
    return this.parseString(src, baseDir, origin).eval(this.baseEnv);
  }

  /** Evaluates a file (a directory means its default.nix), caching the value per file. */
  /** A file given on the command line: as `import` but without its trace frame (Nix parses and evaluates it directly). */
  evalFile(path: string): Value {
    return this.importFile(path, null, null, false);
  }

  importFile(path: string, scope: NixAttrs | null, _pos: Pos | null, traced = true): Value {
    let file = canonPath(path);
    const core = file.startsWith(COREPKGS_DIR + '/') ? COREPKGS[file.slice(COREPKGS_DIR.length + 1)] : undefined;
    if (core !== undefined) {
      const cached = this.fileCache.get(file);
      if (cached !== undefined) return cached;
      const v = parse(core, file, COREPKGS_DIR, this.baseScope).eval(this.baseEnv);
      this.fileCache.set(file, v);
      return v;
    }
    const host = hostPathOf(file); // realises a store path first (import from derivation)
    try {
      if (statSync(host).isDirectory()) file += '/default.nix';
    } catch {
      throw new NixEvalError(`getting status of '${file}': No such file or directory`);
    }
    if (scope === null) {
      const cached = this.fileCache.get(file);
      if (cached !== undefined) return cached;
    }
    let src: string;
    try { src = readFileSync(hostPathOf(file), 'utf8'); } catch (e) {
      throw new NixEvalError(`opening file '${file}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`);
    }
    let v: Value;
    if (scope === null) {
      const e = parse(src, file, dirOf(file), this.baseScope);
      try {
        v = e.eval(this.baseEnv);
      } catch (err) {
        // Nix's cacheFile (import and file arguments; not scopedImport).
        if (traced && err instanceof NixEvalError) err.addTrace(null, `while evaluating the file '${file}':`);
        throw err;
      }
      this.fileCache.set(file, v);
    } else {
      const names = new Map<string, number>();
      const vars: Env = [this.baseEnv];
      for (const [k, x] of scope.map) { names.set(k, vars.length - 1); vars.push(x); }
      v = parse(src, file, dirOf(file), new Scope(this.baseScope, names)).eval(vars);
    }
    return v;
  }

  /** Nix's autoCallFunction: functions with formals get the given arguments (and their defaults). */
  autoCall(v: Value, args: Map<string, Lazy>): Value {
    if (v instanceof NixAttrs && v.map.has('__functor')) {
      const f = force(v.map.get('__functor')!);
      return this.autoCall(callFunction(f, v, null), args);
    }
    if (!(v instanceof Lambda) || v.fn.formals === null) return v;
    const m = new Map<string, Lazy>();
    const missing = (f: { name: string; pos?: Pos }) => new NixEvalError(
      `cannot evaluate a function that has an argument without a value ('${f.name}')\n\n` +
      '       Nix attempted to evaluate a function as a top level expression; in\n' +
      '       this case it must have its arguments supplied either by default\n' +
      "       values, or passed explicitly with '--arg' or '--argstr'. See\n" +
      '       https://nixos.org/manual/nix/stable/#ss-functions.', f.pos ?? v.fn.pos);
    if (v.fn.ellipsis) for (const [k, x] of args) m.set(k, x);
    else for (const f of v.fn.formals) {
      const a = args.get(f.name);
      if (a !== undefined) m.set(f.name, a);
      else if (f.def === null) throw missing(f);
    }
    return callFunction(v, new NixAttrs(m), null);
  }

  /** Nix's findAlongAttrPath (`-A a.b.0`). */
  findAlongAttrPath(root: Value, attrPath: string, args: Map<string, Lazy>): Value {
    let v = root;
    if (attrPath === '') return v;
    for (const tok of attrPath.split('.')) {
      v = force(this.autoCall(v, args));
      if (/^[0-9]+$/.test(tok)) {
        if (!Array.isArray(v)) throw new NixEvalError(`the expression selected by the selection path '${attrPath}' should be a list but is ${typeName(v)}`);
        const i = parseInt(tok, 10);
        if (i >= v.length) throw new NixEvalError(`list index ${i} in selection path '${attrPath}' is out of range`);
        v = force(v[i]!);
      } else {
        if (!(v instanceof NixAttrs)) throw new NixEvalError(`the expression selected by the selection path '${attrPath}' should be a set but is ${typeName(v)}`);
        const a = v.map.get(tok);
        if (a === undefined) throw new NixEvalError(`attribute '${tok}' in selection path '${attrPath}' not found`);
        v = force(a);
      }
    }
    return v;
  }

  forceAttrs(v: Lazy): NixAttrs { return forceAttrs(v, null); }
}

function typeName(v: Value): string {
  const { showType } = { showType: (x: Value) => (Array.isArray(x) ? 'a list' : x instanceof NixAttrs ? 'a set' : x instanceof NixPath ? 'a path' : typeof x === 'bigint' ? 'an integer' : typeof x === 'string' ? 'a string' : String(typeof x)) };
  return showType(v);
}
