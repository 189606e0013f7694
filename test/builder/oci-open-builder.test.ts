// Choosing the builder backend by URL.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBuilder } from '../../builder/open-builder.js';

test('oci:///dir opens the runc backend with its state in dir', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-open-builder-'));
  try {
    const svc = await openBuilder(`oci://${dir}/state?runc=/usr/sbin/runc&root=/run/runc`);
    t.true(existsSync(join(dir, 'state', 'builds')));
    await svc.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('unusable builder URLs are refused with ConfigError naming the problem', async (t) => {
  const cases: [string, RegExp][] = [
    ['not a url', /invalid builder URL/],
    ['ftp://x', /unknown scheme 'ftp:'/],
    ['oci://somehost/x', /takes a path/],
    ['oci://?colour=red', /unknown option 'colour'/],
    ['oci://?idBase=lots', /idBase must be a number/],
    ['oci://?runc=/nonexistent/runc', /cannot run runc at \/nonexistent\/runc/],
  ];
  for (const [url, re] of cases) {
    const err = await t.throwsAsync(openBuilder(url), undefined, url);
    t.is((err as { code?: string }).code, 'E_CONFIG', url);
    t.regex(err!.message, re, url);
  }
});
