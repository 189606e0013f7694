// Finding the chunk that holds a byte of a chunked blob, from the chunks' start offsets.

/** Index of the chunk holding byte `pos`, given the chunks' ascending start offsets (the first is 0). */
export function chunkAt(starts: readonly number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
