// The synchronous bridge between an evaluation in a worker thread and the main thread, which owns
// the store and the coordinator (both asynchronous). The worker posts a request on a MessagePort
// and sleeps on a SharedArrayBuffer (Atomics.wait); the main thread does the work, posts the
// reply and wakes it; the worker takes the reply with receiveMessageOnPort. The main thread's
// event loop stays free the whole time (it serves the FUSE mount the worker then reads).
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { PendingWrites } from '../derivation/session.js';
import { setIfdAllowed, setStorePathResolver, StoreReadError } from './store-reads.js';
import { detachSourcesFromMounts } from './detach-sources.js';

/** What the worker holds: its end of the channel, the wake-up word, and whether IFD may build. */
export interface IfdWorkerEnd { port: MessagePort; signal: SharedArrayBuffer; allowIfd?: boolean }

/** A request: make `path` readable, after writing `pending` (this evaluation's new .drv files and sources). */
export interface IfdRequest { path: string; pending: PendingWrites | null }

export type IfdReply = { ok: true; hostPath: string } | { ok: false; message: string; code: string };

/** A fresh channel: `worker` goes into workerData (and its port into transferList). */
export function createIfdChannel(allowIfd = true): { worker: IfdWorkerEnd; main: IfdWorkerEnd } {
  const { port1, port2 } = new MessageChannel();
  const signal = new SharedArrayBuffer(4);
  return { worker: { port: port1, signal, allowIfd }, main: { port: port2, signal, allowIfd } };
}

/** Sends one request and blocks this (worker) thread until the main thread answers. */
export function callMain(end: IfdWorkerEnd, req: IfdRequest): IfdReply {
  const word = new Int32Array(end.signal);
  Atomics.store(word, 0, 0);
  end.port.postMessage(req);
  Atomics.wait(word, 0, 0);
  const m = receiveMessageOnPort(end.port);
  if (!m) throw new StoreReadError('internal error: the main thread woke the evaluation without an answer', 'E_INTERNAL');
  return m.message as IfdReply;
}

/** Main thread: answers requests on `end` with `handle` until the port closes. */
export function serveIfd(end: IfdWorkerEnd, handle: (req: IfdRequest) => Promise<string>): void {
  const word = new Int32Array(end.signal);
  end.port.on('message', (req: IfdRequest) => {
    handle(req).then(
      (hostPath): IfdReply => ({ ok: true, hostPath }),
      (err: unknown): IfdReply => ({ ok: false, message: err instanceof Error ? err.message : String(err), code: typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'E_EVAL' }),
    ).then((reply) => {
      end.port.postMessage(reply);
      Atomics.store(word, 0, 1);
      Atomics.notify(word, 0);
    });
  });
}

/**
 * Worker: routes this thread's store reads to the main thread. `takePending` hands over what the
 * evaluation has created but not written yet (the coordinator finds derivations in the store).
 */
export function installWorkerBridge(end: IfdWorkerEnd, takePending: () => PendingWrites | null): void {
  setIfdAllowed(end.allowIfd ?? true);
  setStorePathResolver((path) => {
    const pending = takePending();
    const reply = callMain(end, { path, pending: pending && detachSourcesFromMounts(pending) });
    if (!reply.ok) throw new StoreReadError(reply.message, reply.code);
    return reply.hostPath;
  });
}
