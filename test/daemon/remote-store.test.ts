// The Store over the daemon socket: the store conformance suites against it, plus what is
// particular to it (absent daemon, stale socket, error classes, pipelined ingest, extra methods).
import test from 'ava';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { InvalidInputError } from '../../store/errors.js';
import { addPathToStore } from '../../store/import/add-to-store.js';
import { openStore } from '../../store/open-store.js';
import { connectRemoteStore } from '../../store/remote/remote-store.js';
import { RpcClient } from '../../store/remote/rpc-client.js';
import { RpcServer } from '../../store/remote/rpc-server.js';
import { serveStore } from '../../store/remote/serve-store.js';
import type { Store } from '../../store/store.js';
import { makeRichTree, tempDir } from '../helpers/trees.js';
import { blobServiceSuite } from '../store/conformance/blob-service.js';
import { directoryServiceSuite } from '../store/conformance/directory-service.js';
import { pathInfoServiceSuite } from '../store/conformance/path-info-service.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let n = 0;
const servers: RpcServer[] = [];

test.before(async () => {
  tmp = await tempDir('tsix-remote-');
});
test.after.always(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await tmp?.cleanup();
});

/** A memory store served on a fresh socket, and a remote store connected to it. */
async function served(): Promise<{ local: Store; remote: Store; socket: string; server: RpcServer }> {
  const local = await openStore('memory://');
  const socket = join(tmp.dir, `s${n++}`, 'daemon.sock');
  const server = await serveStore(local, socket);
  servers.push(server);
  const remote = await connectRemoteStore(socket);
  if (!remote) throw new Error('no remote store');
  return { local, remote, socket, server };
}

const openRemote = async () => (await served()).remote;
blobServiceSuite(test, 'remote', openRemote);
directoryServiceSuite(test, 'remote', openRemote);
pathInfoServiceSuite(test, 'remote', openRemote);

test('no daemon: null; a stale socket file is removed', async (t) => {
  t.is(await connectRemoteStore(join(tmp.dir, 'nowhere', 'daemon.sock')), null);
  const dir = join(tmp.dir, 'stale');
  await mkdir(dir);
  const sock = join(dir, 'daemon.sock');
  // A listener killed without cleaning up leaves its socket file behind, like a killed daemon.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((res) => child.stdout.once('data', res));
  child.kill('SIGKILL');
  await new Promise((res) => child.once('exit', res));
  t.truthy(await lstat(sock).catch(() => null), 'socket file left behind');
  t.is(await connectRemoteStore(sock), null);
  t.is(await lstat(sock).catch(() => null), null, 'stale socket removed');
});

test('ingesting a tree through the socket gives what ingesting it directly gives', async (t) => {
  const src = await makeRichTree(join(tmp.dir, 'tree'));
  const direct = await addPathToStore(await openStore('memory://'), src);
  const { remote, local } = await served();
  const viaSocket = await addPathToStore(remote, src);
  t.is(viaSocket.path, direct.path);
  t.true(viaSocket.narHash.equals(direct.narHash));
  t.deepEqual(viaSocket.node, direct.node);
  const stored = await local.pathInfos.get(direct.path.slice(11, 43));
  t.truthy(stored, 'registered in the daemon\'s store');
  t.is(stored!.narSize, direct.narSize);
  await remote.close();
});

test('errors keep their class and code across the socket', async (t) => {
  const { remote } = await served();
  const err = await t.throwsAsync(remote.directories.putMany([{ directories: [], files: [{ name: 'b', digest: Buffer.alloc(32), size: 0, executable: false }, { name: 'a', digest: Buffer.alloc(32), size: 0, executable: false }], symlinks: [] }]));
  t.true(err instanceof InvalidInputError);
  const missingChild = await t.throwsAsync(remote.directories.putMany([{ directories: [{ name: 'x', digest: Buffer.alloc(32, 7), size: 1 }], files: [], symlinks: [] }]));
  t.true(missingChild instanceof InvalidInputError);
  t.regex(missingChild!.message, /must be stored before its parent/);
  await remote.close();
});

test('a pipelined write that fails on the daemon surfaces before the path is registered', async (t) => {
  const { remote, local } = await served();
  // A directory put whose child exists only on a connection that never sent it: the client
  // checks children it knows; force the daemon-side check by lying about the digest set.
  const rpc = (remote as unknown as { rpc: RpcClient }).rpc;
  await rpc.send('directories.putMany', [[{ directories: [{ name: 'x', digest: Buffer.alloc(32, 9), size: 1 }], files: [], symlinks: [] }]]);
  const err = await t.throwsAsync(remote.pathInfos.put({ path: '/nix/store/00000000000000000000000000000000-x', node: { type: 'file', name: '', digest: Buffer.alloc(32), size: 0, executable: false }, narHash: Buffer.alloc(32), narSize: 0, references: [], deriver: null, signatures: [], ca: null }));
  t.regex(err!.message, /must be stored before its parent/);
  t.is(await local.pathInfos.get('00000000000000000000000000000000'), null, 'nothing registered');
  await remote.close();
});

test('other components can register their own methods; unknown methods are refused', async (t) => {
  const server = new RpcServer({ url: 'test://' });
  server.register('test.echo', async ([x]) => ({ echoed: x }));
  server.register('test.slow', async () => { await new Promise((r) => setTimeout(r, 50)); return 'slow'; }, { concurrent: true });
  const socket = join(tmp.dir, 'custom.sock');
  await server.listen(socket);
  servers.push(server);
  const c = (await RpcClient.connect(socket))!;
  const slow = c.call('test.slow');
  t.deepEqual(await c.call('test.echo', [42]), { echoed: 42 }, 'not held up by a concurrent call');
  t.is(await slow, 'slow');
  const err = await t.throwsAsync(c.call('no.such.method'));
  t.regex(err!.message, /unknown method 'no\.such\.method'/);
  c.close();
});

test('a second server on the same socket is refused while the first listens', async (t) => {
  const { socket } = await served();
  const err = await t.throwsAsync(serveStore(await openStore('memory://'), socket));
  t.is((err as { code?: string }).code, 'E_DAEMON_RUNNING');
});

test('listing streams every path info and meta key in batches', async (t) => {
  const { remote, local } = await served();
  for (let i = 0; i < 1200; i++) await local.meta.putMany([[`k/${String(i).padStart(4, '0')}`, Buffer.from([i & 255])]]);
  const keys: string[] = [];
  for await (const [k] of remote.meta.list('k/')) keys.push(k);
  t.is(keys.length, 1200);
  t.is(keys[0], 'k/0000');
  // Ending a stream early closes it on the daemon side.
  for await (const [k] of remote.meta.list('k/')) { t.is(k, 'k/0000'); break; }
  t.deepEqual(await remote.meta.get('k/0001'), Buffer.from([1]));
  await writeFile(join(tmp.dir, 'unused'), '');
  await remote.close();
});
