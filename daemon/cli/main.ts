#!/usr/bin/env node
// The tsix command's entry point (the daemon/cli/tsix launcher runs it, or the start-up snapshot
// built from the same code: see snapshot/build.ts).
import { runCli } from './dispatch.js';

runCli(process.argv.slice(2));
