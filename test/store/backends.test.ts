// Runs every store service's conformance suite against every backend.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../store/open-store.js';
import { blobServiceSuite } from './conformance/blob-service.js';
import { directoryServiceSuite } from './conformance/directory-service.js';
import { pathInfoServiceSuite } from './conformance/path-info-service.js';

const levelDirs: string[] = [];
test.after.always(async () => {
  await Promise.all(levelDirs.map((d) => rm(d, { recursive: true, force: true })));
});

const backends: [string, () => Promise<import('../../store/store.js').Store>][] = [
  ['memory://', () => openStore('memory://')],
  ['level://', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsix-level-'));
    levelDirs.push(dir);
    return openStore(`level://${dir}`, { direct: true });
  }],
];

for (const [name, open] of backends) {
  blobServiceSuite(test, name, open);
  directoryServiceSuite(test, name, open);
  pathInfoServiceSuite(test, name, open);
}
