// tsix command line: parses global options, then dispatches to a lazily imported command module
// (the help texts too are imported only when asked for: start-up time counts for every command).
// Run by main.js, or from the start-up snapshot (snapshot/entry.ts) with the eval command loaded.
import type { CliContext, CommandRun } from './command.js';
import { errorMessage, exitCodeFor } from './exit-codes.js';
import { readFileSync } from 'node:fs';

/** Command words → module exporting `run`. Longest match wins ("store add" before "store"). */
const COMMANDS: Record<string, () => Promise<{ run: CommandRun }>> = {
  'store': () => import('./store-commands.js'),
  'path-info': () => import('./path-info-command.js'),
  'hash': () => import('./hash-command.js'),
  'copy': () => import('./copy-command.js'),
  'eval': () => import('../../eval/cli.js'),
  'daemon': () => import('./daemon-command.js'),
  'build': () => import('./build-command.js'),
  'log': () => import('./log-command.js'),
  'status': () => import('./status-command.js'),
  'serve-cache': () => import('../http/serve-command.js'),
  'instantiate': () => import('./instantiate-command.js'),
  'show-derivation': () => import('./show-derivation-command.js'),
};

/**
 * Commands that leave nothing running once their run() has ended: the process then exits at once.
 * A natural exit first waits for all of V8's queued background work (optimising compilations of
 * code that will not run again), tens of milliseconds after a short evaluation. What is still
 * queued for standard output or error (a pipe takes 64 KiB at once) is written first.
 */
const EXIT_AT_END = new Set(['eval']);
let exitAtEnd = false;

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function usage(): string {
  return `usage: tsix [--store URL] [--verbose] COMMAND ...\ncommands: ${Object.keys(COMMANDS).sort().join(', ')}\n`;
}

/** Exits once standard output and error have written what they hold (an empty write's callback comes after them). */
function exitWhenWritten(code: number): void {
  let left = 2;
  const written = (): void => { if (--left === 0) process.exit(code); };
  process.stdout.write('', written);
  process.stderr.write('', written);
}

async function main(argv: string[]): Promise<number> {
  const ctx: CliContext = { storeUrl: process.env.TSIX_STORE ?? null, verbose: false, stdout: process.stdout, stderr: process.stderr };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--store') ctx.storeUrl = argv[++i] ?? null;
    else if (a.startsWith('--store=')) ctx.storeUrl = a.slice(8);
    else if (a === '--verbose' || a === '-v') ctx.verbose = true;
    else if (a === '--help' || a === '-h' || a === 'help') {
      const topic = argv[i + 1];
      const { commandHelp, overview } = await import('./help.js');
      process.stdout.write(topic && COMMANDS[topic] ? commandHelp(topic) : overview(version()));
      return 0;
    } else if (a === '--version') { process.stdout.write(`tsix ${version()}\n`); return 0; }
    else break;
  }
  if (ctx.verbose && !process.env.TSIX_LOG) process.env.TSIX_LOG = 'debug';
  const name = argv[i];
  const load = name === undefined ? undefined : COMMANDS[name];
  if (!load) {
    process.stderr.write(name === undefined ? usage() : `error: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  const rest = argv.slice(i + 1);
  // `--help` before a `--` asks for help, wherever it stands (as in Nix's commands).
  const dashdash = rest.indexOf('--');
  if (rest.slice(0, dashdash < 0 ? rest.length : dashdash).some((a) => a === '--help' || a === '-h')) {
    const { commandHelp } = await import('./help.js');
    process.stdout.write(commandHelp(name!));
    return 0;
  }
  exitAtEnd = EXIT_AT_END.has(name!);
  try {
    const mod = await load();
    return await mod.run(rest, ctx);
  } catch (err) {
    process.stderr.write(errorMessage(err, ctx.verbose) + '\n');
    return exitCodeFor(err);
  }
}

/** Runs the command line `argv` (without node and the script) and sets the exit code when it ends. */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => { process.exitCode = code; if (exitAtEnd) exitWhenWritten(code); },
    (err) => { process.stderr.write(errorMessage(err, true) + '\n'); process.exitCode = 1; },
  );
}
