// The store conformance suites (test/store/conformance) against a layered store whose
// substituter is an empty cache: layering must not change any service's contract.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../store/open-store.js';
import { openLayeredStore } from '../../store/layered/layered-store.js';
import { blobServiceSuite } from '../store/conformance/blob-service.js';
import { directoryServiceSuite } from '../store/conformance/directory-service.js';
import { pathInfoServiceSuite } from '../store/conformance/path-info-service.js';

const dirs: string[] = [];
test.after.always(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

const open = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsix-layered-'));
  dirs.push(dir);
  return openLayeredStore(`memory://?substituter=${encodeURIComponent(`file://${dir}/empty-cache`)}`, (u) => openStore(u));
};

blobServiceSuite(test, 'layered memory://', open);
directoryServiceSuite(test, 'layered memory://', open);
pathInfoServiceSuite(test, 'layered memory://', open);
