// The program of tsix's start-up snapshot (see build.ts): the command line, with `tsix eval`'s
// modules loaded and initialised before the snapshot is taken, so that an evaluation starts
// without reading, compiling or running any module (~45 ms of a 100 ms `tsix eval -E 1`).
// The other commands' modules are in the bundle too, initialised on first use (they need npm
// packages, which a snapshot cannot hold): they are spared resolving and reading ~100 files
// (`tsix path-info`: 0.21-0.30 -> 0.14-0.17 s).
import { startupSnapshot } from 'node:v8';
import { runCli } from '../dispatch.js';
import '../../../eval/cli.js';
import '../../../eval/main-thread-eval.js';

startupSnapshot.setDeserializeMainFunction(() => runCli(process.argv.slice(2)));
