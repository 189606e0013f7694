// The limits of an evaluation attempted on the main thread before a worker (tsix eval, tsix
// instantiate, tsix build): a worker's start-up costs more than most evaluations. The attempt
// must give up, for the worker to run it, when it needs the store (import from derivation is
// served to the worker only) or grows past a quarter of this thread's heap limit; a stack
// overflow ends it on its own (a RangeError, caught by the caller like any failure).
import { createRequire } from 'node:module';
import { setHeapCheck } from './evaluator.js';
import { setStorePathResolver } from './ifd/store-reads.js';

class NeedWorker extends Error {}

/** Installs the limits; the returned function removes them (call it in `finally`). */
export function guardMainThreadAttempt(): () => void {
  setStorePathResolver(() => { throw new NeedWorker('store access'); });
  // node:v8 is loaded at the first check only: most evaluations end before it, and loading it is start-up time.
  let v8: typeof import('node:v8') | null = null;
  let limit = 0;
  setHeapCheck(() => {
    if (v8 === null) { v8 = createRequire(import.meta.url)('node:v8') as typeof import('node:v8'); limit = v8.getHeapStatistics().heap_size_limit / 4; }
    if (v8.getHeapStatistics().used_heap_size > limit) throw new NeedWorker('heap');
  });
  return () => {
    setHeapCheck(null);
    setStorePathResolver(null);
  };
}

/** Frames of `probe` that must fit on the stack before a write to a stream (see withHeadroom). */
const HEADROOM_FRAMES = 400;

function probe(n: number): number { return n === 0 ? 0 : probe(n - 1) + 1; }

/**
 * `write` run only with room left on the stack: a stream's write that overflows half-way leaves
 * the stream stuck (later writes, the worker's included, are never flushed). Near the limit this
 * throws the RangeError before the write, which ends the attempt like any overflow.
 */
export function withHeadroom(write: (s: string) => void): (s: string) => void {
  return (s) => { probe(HEADROOM_FRAMES); write(s); };
}
