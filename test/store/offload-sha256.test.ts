// The worker-thread SHA-256 used for large ingests equals node:crypto's over the same bytes.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { OffloadedSha256, sharedBuffer } from '../../store/hash/offload-sha256.js';

test('copied and shared pieces, in any sizes, hash as one stream', async (t) => {
  const h = new OffloadedSha256();
  const ref = createHash('sha256');
  for (let i = 0; i < 300; i++) {
    const n = [0, 1, 13, 4096, 70_000, 1 << 20, (3 << 20) + 7][i % 7]!;
    const b = randomBytes(n);
    ref.update(b);
    if (i % 3 === 0) {
      const s = sharedBuffer(n);
      b.copy(s);
      h.updateShared(s);
    } else {
      h.update(b);
      b.fill(0); // the caller may reuse a copied piece at once
    }
  }
  t.true((await h.digest()).equals(ref.digest()));
});

test('an empty stream', async (t) => {
  const h = new OffloadedSha256();
  t.true((await h.digest()).equals(createHash('sha256').digest()));
});
