// One pino logger for every component: quiet by default (warn), raised by TSIX_LOG=debug|info
// or the CLI's --verbose. Logs go to stderr so stdout stays for command output.
// pino (26 modules) is loaded on the first message that is actually written: most commands
// write none, and loading it cost every start-up ~15 ms.
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

/** What components log with (pino's calling convention: an object of fields, then the message). */
export interface Log {
  debug(fields: object | string, msg?: string): void;
  info(fields: object | string, msg?: string): void;
  warn(fields: object | string, msg?: string): void;
  error(fields: object | string, msg?: string): void;
}

type Level = keyof Log;
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

let root: Logger | null = null;

/** The configured level's number (read when needed: --verbose sets TSIX_LOG after modules load). */
function threshold(): number {
  return root ? root.levelVal : LEVELS[process.env.TSIX_LOG ?? 'warn'] ?? LEVELS.warn!;
}

function rootLogger(): Logger {
  if (!root) {
    const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
    root = pino({ level: process.env.TSIX_LOG ?? 'warn', base: { pid: process.pid } }, pino.destination(2));
  }
  return root;
}

export function logger(component: string): Log {
  let child: Logger | null = null;
  const at = (level: Level) => (fields: object | string, msg?: string): void => {
    if (LEVELS[level]! < threshold()) return;
    child ??= rootLogger().child({ component });
    if (typeof fields === 'string') child[level](fields);
    else child[level](fields, msg);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
