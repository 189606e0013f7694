// One pino logger for every component: quiet by default (warn), raised by TSIX_LOG=debug|info
// or the CLI's --verbose. Logs go to stderr so stdout stays for command output.
import { pino, type Logger } from 'pino';

let root: Logger | null = null;

export function logger(component: string): Logger {
  root ??= pino({ level: process.env.TSIX_LOG ?? 'warn', base: { pid: process.pid } }, pino.destination(2));
  return root.child({ component });
}
