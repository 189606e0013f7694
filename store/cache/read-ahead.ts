// Decoupling a producer from its consumer with a bounded buffer, so that I/O on both sides overlaps
// (castore reads vs. socket writes when serving; network reads vs. castore writes when substituting).

/**
 * Pulls `src` up to `limit` bytes ahead of the consumer. Errors reach the consumer after the
 * buffers produced before them; an early stop by the consumer stops the producer.
 */
export async function* readAhead(src: AsyncIterable<Buffer>, limit: number): AsyncIterable<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let done = false;
  let failure: { err: unknown } | null = null;
  const waiting: { consumer: (() => void) | null; producer: (() => void) | null } = { consumer: null, producer: null };
  const wake = (who: 'consumer' | 'producer') => { const f = waiting[who]; waiting[who] = null; f?.(); };
  let stopped = false;
  const it = src[Symbol.asyncIterator]();
  const pump = (async () => {
    try {
      while (!stopped) {
        if (queued >= limit) { await new Promise<void>((r) => { waiting.producer = r; }); continue; }
        const n = await it.next();
        if (n.done) break;
        queue.push(n.value); queued += n.value.length;
        wake('consumer');
      }
      if (stopped) await it.return?.();
    } catch (err) {
      failure = { err };
    }
    done = true;
    wake('consumer');
  })();
  try {
    for (;;) {
      if (queue.length > 0) {
        const b = queue.shift()!;
        queued -= b.length;
        wake('producer');
        yield b;
        continue;
      }
      if (done) break;
      await new Promise<void>((r) => { waiting.consumer = r; });
    }
    if (failure) throw (failure as { err: unknown }).err;
  } finally {
    stopped = true;
    wake('producer');
    await pump;
  }
}
