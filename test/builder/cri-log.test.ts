// The CRI log record format and the cri+unix:// URL, without a runtime.
import test from 'ava';
import { mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLogReader, criRecordText } from '../../builder/cri/cri-log.js';
import { DEFAULT_CRI_IMAGE, parseCriUrl } from '../../builder/cri/cri-url.js';

test('CRI log records: F ends a line, P continues it, an empty message is an empty line', (t) => {
  const text = (s: string): string | null => criRecordText(Buffer.from(s))?.toString() ?? null;
  t.is(text('2024-01-01T00:00:00.000000001Z stdout F hello world'), 'hello world\n');
  t.is(text('2024-01-01T00:00:00.000000001Z stderr P part '), 'part ');
  t.is(text('2024-01-01T00:00:00.000000001Z stdout F '), '\n');
  t.is(text('2024-01-01T00:00:00.000000001Z stdout F'), '\n');
  t.is(text('2024-01-01T00:00:00.000000001Z stdout F  two  spaces '), ' two  spaces \n');
  t.is(text('garbage'), null);
  t.is(text('2024-01-01T00:00:00Z stdout X x'), null);
});

test('CriLogReader follows a growing file and joins records split across reads', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-cri-log-'));
  try {
    const file = join(dir, 'build.log');
    const got: string[] = [];
    const r = new CriLogReader(file, (b) => got.push(b.toString()));
    await r.drain(); // not there yet: quiet
    await writeFile(file, 'T stdout P abc\nT stdout F def\nT stderr F x');
    await r.drain();
    t.deepEqual(got, ['abc', 'def\n']);
    await appendFile(file, 'yz\nT stdout F \n');
    await r.close();
    t.deepEqual(got, ['abc', 'def\n', 'xyz\n', '\n']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('cri+unix:// URLs: socket, image and state', (t) => {
  t.like(parseCriUrl('cri+unix:///run/containerd/containerd.sock'), { socket: '/run/containerd/containerd.sock', image: DEFAULT_CRI_IMAGE });
  t.like(parseCriUrl('cri+unix:///x.sock?image=localhost/b:1&state=/var/lib/tsix/cri'), { socket: '/x.sock', image: 'localhost/b:1', stateDir: '/var/lib/tsix/cri' });
  t.like(parseCriUrl('cri+unix:///a%20b.sock'), { socket: '/a b.sock' });
  for (const bad of ['oci:///x', 'cri+unix://h/x.sock', 'cri+unix:///x.sock?image=', 'cri+unix:///x.sock?x=1', 'nope']) {
    t.is(t.throws(() => parseCriUrl(bad))?.constructor.name, 'ConfigError', bad);
  }
});
