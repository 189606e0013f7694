// Where chunk and blob checks run: kept apart from the verify pool, so that a reader that checks
// on its own thread never loads the pool (nor worker_threads).
import { availableParallelism } from 'node:os';

/**
 * Whether readers should check chunks and blobs on the pool's workers rather than on their own
 * thread (TSIX_VERIFY_WORKERS=1/0 forces it). Not on two cores or fewer: the main thread, the
 * reads and the workers then share the cores, and starting and feeding workers cost more CPU
 * than it saved (a dump of 20k small files: 1.25-1.4 s CPU with them against 0.85-1.1 s, the
 * main thread no shorter).
 */
export function checksOnWorkers(): boolean {
  const env = process.env.TSIX_VERIFY_WORKERS;
  if (env === '0' || env === '1') return env === '1';
  return availableParallelism() > 2;
}
