// Malformed and hostile NARs: each is rejected with an InvalidInputError naming the problem and
// its byte offset, without allocating from hostile lengths and without storing any directory.
import test from 'ava';
import { narString } from '../../store/nix/nar-format.js';
import { importNar } from '../../store/nix/nar-import.js';
import { restoreNarToFs } from '../../store/nix/nar-restore-fs.js';
import { openStore } from '../../store/open-store.js';
import type { CaStore } from '../../store/store.js';
import { join } from 'node:path';
import { pieces, tempDir } from './nix-oracle.js';

const s = (x: string | Buffer) => narString(x);
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); return b; };
/** A raw string frame with explicit padding bytes. */
const rawString = (bytes: Buffer, pad: Buffer) => Buffer.concat([u64(BigInt(bytes.length)), bytes, pad]);

const MAGIC = s('nix-archive-1');
const file = (contents: string, exec = false) => Buffer.concat([s('('), s('type'), s('regular'), ...(exec ? [s('executable'), s('')] : []), s('contents'), s(contents), s(')')]);
const entry = (name: string | Buffer, node: Buffer) => Buffer.concat([s('entry'), s('('), s('name'), s(name), s('node'), node, s(')')]);
const dir = (...entries: Buffer[]) => Buffer.concat([s('('), s('type'), s('directory'), ...entries, s(')')]);

/** A case: the archive, the offset the error must name, and a pattern for its message. */
interface Case { nar: Buffer; offset: number; message: RegExp }
const at = (...before: Buffer[]) => Buffer.concat(before).length;

const dirHead = Buffer.concat([MAGIC, s('('), s('type'), s('directory')]);
const goodEntry = entry('a', file('x'));

const CASES: Record<string, Case> = {
  'empty input': { nar: Buffer.alloc(0), offset: 0, message: /truncated/ },
  'wrong magic': { nar: Buffer.concat([s('nix-archive-2'), file('x')]), offset: 0, message: /doesn't look like a Nix archive/ },
  'wrong magic length': { nar: Buffer.concat([s('tar'), file('x')]), offset: 0, message: /doesn't look like a Nix archive/ },
  'huge magic length': { nar: Buffer.concat([u64(1n << 62n), Buffer.alloc(64)]), offset: 0, message: /too large|doesn't look/ },
  'unknown file type': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('fifo'), s(')')]), offset: at(MAGIC, s('('), s('type')), message: /unknown file type "fifo"/ },
  'missing open tag': { nar: Buffer.concat([MAGIC, s('type'), s('regular')]), offset: at(MAGIC), message: /expected '\('/ },
  'unknown token in a file': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('size'), s(')')]), offset: at(MAGIC, s('('), s('type'), s('regular')), message: /expected 'contents' or 'executable'.*"size"/ },
  'unknown token in a directory': { nar: Buffer.concat([dirHead, s('entries'), s(')')]), offset: at(dirHead), message: /expected 'entry' or '\)'/ },
  'oversized token': { nar: Buffer.concat([dirHead, u64(1n << 40n)]), offset: at(dirHead), message: /unknown token of 1099511627776 bytes/ },
  'executable marker with a value': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('executable'), s('yes'), s('contents'), s(''), s(')')]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('executable')), message: /executable marker has a non-empty value/ },
  'contents before executable (non-canonical)': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('contents'), s('x'), s('executable'), s(''), s(')')]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('contents'), s('x')), message: /expected '\)' after file contents/ },
  'entries out of order': { nar: Buffer.concat([dirHead, entry('b', file('1')), entry('a', file('2')), s(')')]), offset: at(dirHead, entry('b', file('1')), s('entry'), s('('), s('name')), message: /"a" is not sorted after "b"/ },
  'duplicate entry': { nar: Buffer.concat([dirHead, goodEntry, entry('a', file('2')), s(')')]), offset: at(dirHead, goodEntry, s('entry'), s('('), s('name')), message: /"a" is duplicated/ },
  'empty name': { nar: Buffer.concat([dirHead, entry('', file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /entry name is empty/ },
  'name "."': { nar: Buffer.concat([dirHead, entry('.', file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /"\." is not allowed/ },
  'name ".."': { nar: Buffer.concat([dirHead, entry('..', file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /"\.\." is not allowed/ },
  'name with /': { nar: Buffer.concat([dirHead, entry('a/b', file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /contains '\/'/ },
  'name with NUL': { nar: Buffer.concat([dirHead, entry('a\0b', file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /contains NUL/ },
  'name too long': { nar: Buffer.concat([dirHead, entry('n'.repeat(256), file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /entry name of 256 bytes is longer than the limit of 255/ },
  'hostile name length': { nar: Buffer.concat([dirHead, s('entry'), s('('), s('name'), u64((1n << 53n) - 1n)]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /longer than the limit/ },
  'name not UTF-8': { nar: Buffer.concat([dirHead, entry(Buffer.from([0x61, 0xff]), file('x')), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name')), message: /not valid UTF-8/ },
  'node without name': { nar: Buffer.concat([dirHead, s('entry'), s('('), s('node'), file('x'), s(')'), s(')')]), offset: at(dirHead, s('entry'), s('(')), message: /expected 'name'/ },
  'empty symlink target': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('symlink'), s('target'), s(''), s(')')]), offset: at(MAGIC, s('('), s('type'), s('symlink'), s('target')), message: /symlink target is empty/ },
  'symlink target with NUL': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('symlink'), s('target'), s('a\0'), s(')')]), offset: at(MAGIC, s('('), s('type'), s('symlink'), s('target')), message: /contains NUL/ },
  'symlink target too long': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('symlink'), s('target'), s('t'.repeat(4096)), s(')')]), offset: at(MAGIC, s('('), s('type'), s('symlink'), s('target')), message: /longer than the limit of 4095/ },
  'truncated contents': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('contents'), u64(100n), Buffer.alloc(40)]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('contents'), u64(100n)), message: /truncated: file contents of 100 bytes end after 40/ },
  'hostile contents length': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('contents'), u64((1n << 53n) - 8n), Buffer.alloc(16)]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('contents'), u64(0n)), message: /truncated: file contents/ },
  'contents length beyond 2^53': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('contents'), u64(1n << 60n)]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('contents')), message: /file size 1152921504606846976 is too large/ },
  'truncated inside a token': { nar: Buffer.concat([MAGIC, s('('), u64(4n), Buffer.from('ty')]), offset: at(MAGIC, s('('), u64(4n)), message: /truncated/ },
  'truncated before the closing tag': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('contents'), s('abc')]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('contents'), s('abc')), message: /truncated/ },
  'unclosed directory': { nar: Buffer.concat([dirHead, goodEntry]), offset: at(dirHead, goodEntry), message: /truncated/ },
  'non-zero padding after contents': { nar: Buffer.concat([MAGIC, s('('), s('type'), s('regular'), s('contents'), rawString(Buffer.from('abc'), Buffer.from([0, 0, 7, 0, 0])), s(')')]), offset: at(MAGIC, s('('), s('type'), s('regular'), s('contents'), u64(3n), Buffer.from('abc')) + 2, message: /non-zero padding after file contents/ },
  'non-zero padding after a name': { nar: Buffer.concat([dirHead, s('entry'), s('('), s('name'), rawString(Buffer.from('a'), Buffer.from([0, 0, 0, 0, 0, 0, 1])), s('node'), file('x'), s(')'), s(')')]), offset: at(dirHead, s('entry'), s('('), s('name'), u64(1n), Buffer.from('a')) + 6, message: /non-zero padding after entry name/ },
  'non-zero padding after a token': { nar: Buffer.concat([MAGIC, rawString(Buffer.from('('), Buffer.from([0, 0, 0, 0, 0, 0, 0x20])), s('type'), s('regular'), s('contents'), s(''), s(')')]), offset: at(MAGIC, u64(1n), Buffer.from('(')) + 6, message: /non-zero padding/ },
  'trailing garbage': { nar: Buffer.concat([MAGIC, file('x'), Buffer.from('extra')]), offset: at(MAGIC, file('x')), message: /trailing garbage/ },
  'a second archive appended': { nar: Buffer.concat([MAGIC, file('x'), MAGIC, file('y')]), offset: at(MAGIC, file('x')), message: /trailing garbage/ },
  'nesting too deep': (() => {
    let node = file('x');
    for (let i = 0; i < 2049; i++) node = dir(entry('d', node));
    const prefix = Buffer.concat([MAGIC, ...Array.from({ length: 2048 }, () => Buffer.concat([s('('), s('type'), s('directory'), s('entry'), s('('), s('name'), s('d'), s('node')]))]);
    return { nar: Buffer.concat([MAGIC, node]), offset: at(prefix, s('('), s('type')), message: /nested deeper than 2048/ };
  })(),
};

/** The real memory store, counting directory puts (to check nothing became visible). */
async function countingStore(): Promise<{ cas: CaStore; puts: () => number; close: () => Promise<void> }> {
  const store = await openStore('memory://');
  let n = 0;
  const directories = {
    get: store.directories.get.bind(store.directories),
    has: store.directories.has.bind(store.directories),
    putMany: (d: Parameters<typeof store.directories.putMany>[0]) => { n++; return store.directories.putMany(d); },
  };
  return { cas: { blobs: store.blobs, directories }, puts: () => n, close: () => store.close() };
}

for (const [name, c] of Object.entries(CASES)) {
  test(`hostile NAR rejected: ${name}`, async (t) => {
    for (const size of [c.nar.length || 1, 3]) {
      const st = await countingStore();
      t.teardown(st.close);
      const e = await t.throwsAsync(importNar(pieces(c.nar, size), st.cas));
      t.is((e as { code?: string }).code, 'E_INVALID_INPUT', e?.message);
      t.regex(e!.message, c.message);
      t.regex(e!.message, new RegExp(`at byte ${c.offset}$`));
      t.is((e as { data?: { offset?: number } }).data?.offset, c.offset);
      t.is(st.puts(), 0, 'a directory was stored from a rejected archive');
    }
  });
}

test('the hostile cases are well-formed apart from their defect: fixing them parses', async (t) => {
  const st = await countingStore();
  t.teardown(st.close);
  const ok = Buffer.concat([dirHead, goodEntry, entry('b', file('y', true)), s(')')]);
  const r = await importNar(pieces(ok, 3), st.cas);
  t.is(r.node.type, 'directory');
  t.is(r.narSize, ok.length);
  t.is(st.puts(), 1);
});

test('restoreNarToFs rejects a hostile archive cleanly', async (t) => {
  const tmp = await tempDir();
  t.teardown(tmp.cleanup);
  const e = await t.throwsAsync(restoreNarToFs(pieces(CASES['name with /']!.nar, 5), join(tmp.dir, 'out')));
  t.is((e as { code?: string }).code, 'E_INVALID_INPUT');
  t.regex(e!.message, /contains '\/'/);
  const e2 = await t.throwsAsync(restoreNarToFs(pieces(CASES['truncated contents']!.nar, 5), join(tmp.dir, 'out2')));
  t.regex(e2!.message, /truncated/);
});

test('a rejected archive releases its source (the rest is not read)', async (t) => {
  const st = await countingStore();
  t.teardown(st.close);
  let released = false;
  let pulled = 0;
  const nar = Buffer.concat([CASES['name with /']!.nar, Buffer.alloc(1 << 20)]);
  async function* source(): AsyncIterable<Buffer> {
    try {
      for (let i = 0; i < nar.length; i += 16) { pulled++; yield nar.subarray(i, i + 16); }
    } finally {
      released = true;
    }
  }
  await t.throwsAsync(importNar(source(), st.cas), { message: /contains '\/'/ });
  t.true(released);
  t.true(pulled < 100);
});
