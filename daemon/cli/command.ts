import { TsixError } from '../../store/errors.js';

// What every CLI command module exports. Commands are imported lazily by main.ts so that
// start-up only loads the code of the command that runs.

export interface CliContext {
  /** Global --store URL (or null: use the default store). */
  storeUrl: string | null;
  verbose: boolean;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Runs a command with its own arguments (after the command words); resolves to the exit code. Throws TsixError for failures. */
export type CommandRun = (argv: string[], ctx: CliContext) => Promise<number>;

/** Wrong command-line arguments (exit code 2). */
export class UsageError extends TsixError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}
