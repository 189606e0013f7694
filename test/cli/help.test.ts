// The CLI's own help: every command is listed, has a synopsis, and `--help` never runs it.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { tsix } from '../helpers/cli.js';
import { sourcePath } from '../helpers/paths.js';

/** The commands the dispatcher knows, from the list it prints after an unknown command. */
async function dispatched(): Promise<string[]> {
  const r = await tsix(['no-such-command']);
  if (r.code !== 2) throw new Error(`exit code ${r.code}`);
  return /commands: (.*)/.exec(r.stderr)![1]!.split(', ');
}

test('tsix --help lists every command the dispatcher knows, with what it is for', async (t) => {
  const r = await tsix(['--help']);
  t.is(r.code, 0);
  const listed = [...r.stdout.toString().matchAll(/^ {2}([a-z][a-z-]*) {2,}\S/gm)].map((m) => m[1]);
  t.deepEqual(listed.sort(), (await dispatched()).sort());
});

test('tsix COMMAND --help prints its synopsis and exits 0 without running it', async (t) => {
  for (const name of await dispatched()) {
    const r = await tsix([name, '--help']);
    t.is(r.code, 0, `${name}: ${r.stderr}`);
    t.regex(r.stdout.toString(), new RegExp(`^(usage: )?tsix ${name}\\b`), name);
  }
  const daemon = await tsix(['daemon', '--mount', '/nonexistent/x', '--help']);
  t.is(daemon.code, 0, 'the daemon did not start');
});

test('tsix --version prints the package version; an unknown command exits 2 with the usage', async (t) => {
  const { version } = JSON.parse(await readFile(sourcePath('package.json'), 'utf8')) as { version: string };
  const r = await tsix(['--version']);
  t.is(r.stdout.toString(), `tsix ${version}\n`);
  const bad = await tsix(['frobnicate']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^error: unknown command 'frobnicate'\nusage: tsix/);
});
