// `tsix eval`: nix-instantiate --eval. The evaluation runs in a worker thread with a large stack so
// that deep (≥ 10,000 calls) Nix recursion does not overflow Node's default stack.
// The worker and its store bridge are imported only when needed (most evaluations finish on the
// main thread, see main-thread-eval.ts).
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import type { CliContext } from '../daemon/cli/command.js';
import { UsageError } from '../daemon/cli/command.js';
import { NixEvalError } from './errors.js';
import { takeIfdOptions } from './ifd/options.js';

export interface EvalArgs {
  strict: boolean;
  output: 'nix' | 'json' | 'xml';
  attrPaths: string[];
  args: { name: string; value: string; isString: boolean }[];
  includes: string[];
  showTrace: boolean;
  /** --xml without positions. */
  noLocation?: boolean;
  expr: string | null;
  files: string[];
  readStdin: boolean;
}

export function parseEvalArgs(argv: string[]): EvalArgs {
  const a: EvalArgs = { strict: false, output: 'nix', attrPaths: [], args: [], includes: [], showTrace: false, expr: null, files: [], readStdin: false };
  let isExpr = false;
  const need = (i: number, n: number, opt: string) => { if (i + n >= argv.length) throw new UsageError(`flag '${opt}' requires ${n} argument${n > 1 ? 's' : ''}`); };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    switch (x) {
      case '--eval': break;
      case '--strict': a.strict = true; break;
      case '--json': a.output = 'json'; break;
      case '--xml': a.output = 'xml'; break;
      case '--show-trace': a.showTrace = true; break;
      case '--no-location': a.noLocation = true; break;
      case '-E': case '--expr': isExpr = true; break;
      case '-A': case '--attr': need(i, 1, x); a.attrPaths.push(argv[++i]!); break;
      case '--arg': need(i, 2, x); a.args.push({ name: argv[i + 1]!, value: argv[i + 2]!, isString: false }); i += 2; break;
      case '--argstr': need(i, 2, x); a.args.push({ name: argv[i + 1]!, value: argv[i + 2]!, isString: true }); i += 2; break;
      case '-I': need(i, 1, x); a.includes.push(argv[++i]!); break;
      case '-': a.readStdin = true; break;
      default:
        if (x.startsWith('-I') && x.length > 2) { a.includes.push(x.slice(2)); break; }
        if (x.startsWith('-')) throw new NixEvalError(`unrecognised flag '${x}'`);
        a.files.push(x);
    }
  }
  if (isExpr) { a.expr = a.files.join(' '); a.files = []; }
  return a;
}

interface WorkerMsg { t: 'out' | 'err' | 'done'; s?: string; code?: number; error?: { message: string; code: string } }

/**
 * TurboFan's inlining budget for this process, lowered from V8's 920 bytecodes: the evaluator's
 * node methods call each other through sites that see many node kinds, and inlining them all made
 * each optimising compilation take 20-50 ms on a background thread (0.5 s of compiler time for a
 * 0.1 s evaluation), which competes with the evaluation for the CPU and delays its optimised code.
 * Measured: the fixpoint benchmark's compiler time 460 -> 170 ms, its wall time -10 %; a long
 * evaluation's optimised code is at most ~10 % slower (fib, warm).
 */
const INLINING_BUDGET = 300;

/**
 * How much the young generation grows each time it grows, from V8's 2: an evaluation keeps most
 * of what it allocates (thunks, frames, sets), so each scavenge of a small young generation
 * copies nearly all of it, and the default growth (1 MB, doubling) meant ~10 such scavenges for
 * a 10k-element benchmark. V8 reads this flag whenever it grows the space, so setting it here
 * works (the semi-space size limits do not: they are fixed when the heap is made).
 * Measured (in-process evaluation CPU, best of 7): genList + foldl' 82 -> 52 ms, listToAttrs and
 * mapAttrs within noise to -15 %; but naive recursion (fib) 85 -> 103 ms: its young generation
 * grows once at start-up's high survival too, and a larger one churning garbage is less cache-friendly.
 */
const SEMI_SPACE_GROWTH = 16;

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const v8 = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  v8.setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${INLINING_BUDGET}`);
  v8.setFlagsFromString(`--semi-space-growth-factor=${SEMI_SPACE_GROWTH}`);
  const ifdOpts = takeIfdOptions(argv);
  const args = parseEvalArgs(ifdOpts.argv);
  let stdinText: string | null = null;
  if (args.readStdin || (args.expr === null && args.files.length === 0 && !process.stdin.isTTY && false)) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    stdinText = Buffer.concat(chunks).toString('utf8');
  }
  // First on this thread (no worker start-up); an evaluation that fails in any way, needs the
  // store, overflows this thread's small stack or grows large is run again in the worker, which
  // then gives the definitive output. Traces are shown as they come, once: the worker's repeats
  // of the messages already written are skipped.
  let shownErr = 0;
  if (process.env.TSIX_EVAL_WORKER !== '1') {
    const { evalOnMainThread } = await import('./main-thread-eval.js');
    const r = await evalOnMainThread(args, process.cwd(), stdinText, (s) => { ctx.stderr.write(s); shownErr++; });
    if (r !== null) {
      for (const s of r.output) ctx.stdout.write(s);
      return r.code;
    }
  }
  const [{ Worker }, { createIfdChannel }, { serveIfdLazily }] = await Promise.all([
    import('node:worker_threads'), import('./ifd/bridge.js'), import('../daemon/coordinator/ifd-lazy.js'),
  ]);
  // Store reads (import-from-derivation) are answered here while the worker waits.
  const chan = createIfdChannel(ifdOpts.allowIfd);
  const ifd = serveIfdLazily(chan.main, ctx.storeUrl, { allowIfd: ifdOpts.allowIfd, log: (s) => ctx.stderr.write(s) });
  const worker = new Worker(new URL('./eval-worker.js', import.meta.url), {
    workerData: { args, cwd: process.cwd(), stdinText, ifd: chan.worker },
    transferList: [chan.worker.port],
    resourceLimits: { stackSizeMb: 256, maxOldGenerationSizeMb: 8192 },
    stdout: false, stderr: false,
  });
  try {
    return await waitForWorker(worker, ctx, shownErr);
  } finally {
    await ifd.close();
  }
}

/** Relays the worker's output; its first `skipErr` messages to standard error were shown already. */
function waitForWorker(worker: Worker, ctx: CliContext, skipErr: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let skip = skipErr;
    worker.on('message', (m: WorkerMsg) => {
      if (m.t === 'out') ctx.stdout.write(m.s!);
      else if (m.t === 'err') { if (skip > 0) skip--; else ctx.stderr.write(m.s!); }
      else if (m.t === 'done') {
        settled = true;
        if (m.error) {
          const e = new NixEvalError(m.error.message, null, m.error.code);
          reject(e);
        } else resolve(m.code ?? 0);
      }
    });
    worker.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    worker.on('exit', (c) => { if (!settled) { settled = true; resolve(c === 0 ? 0 : 1); } });
  });
}
