// The program of tsix's start-up snapshot (see build.ts): the command line, with `tsix eval`'s
// modules loaded and initialised before the snapshot is taken, so that an evaluation starts
// without reading, compiling or running any module (~45 ms of a 100 ms `tsix eval -E 1`).
// Every other command is in the bundle too but initialised on first use, as from main.js.
import { startupSnapshot } from 'node:v8';
import { runCli } from '../dispatch.js';
import '../../../eval/cli.js';
import '../../../eval/main-thread-eval.js';

startupSnapshot.setDeserializeMainFunction(() => runCli(process.argv.slice(2)));
