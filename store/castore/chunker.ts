// FastCDC content-defined chunking (Xia et al. 2016, normalised chunking): boundaries depend
// on content, so an edit moves only nearby boundaries and the other chunks dedup.
// The per-byte loop runs as WebAssembly (gear-chunker.wat): ~1 GB/s against ~0.4 in JavaScript.
import { blake3 } from '../hash/blake3.js';
import { GEAR_CHUNKER_WASM } from './gear-chunker-wasm.js';

import { AVG_CHUNK, MAX_CHUNK, MIN_CHUNK } from './chunk-limits.js';
export { AVG_CHUNK, MAX_CHUNK, MIN_CHUNK };

// Masks with more (small chunks less likely) and fewer (more likely) bits than log2(AVG) = 16.
const BITS_S = 18;
const BITS_L = 14;

/** `bits` one-bits spread over the high 24 bits of a u32, deterministic (as an int32: same bits). */
function spreadMask(bits: number): number {
  let m = 0;
  const step = 24 / bits;
  for (let i = 0; i < bits; i++) m |= 1 << (31 - Math.floor(i * step));
  return m | 0;
}
export const MASK_S = spreadMask(BITS_S);
export const MASK_L = spreadMask(BITS_L);

/** Gear table: 256 pseudo-random int32s derived from BLAKE3, so it never changes between versions. */
export function gearTable(): Int32Array {
  const bytes = Buffer.alloc(1024);
  for (let i = 0; i < 32; i++) blake3(Buffer.from(`tsix-fastcdc-gear-${i}`)).copy(bytes, i * 32);
  const gear = new Int32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = bytes.readInt32LE(i * 4);
  return gear;
}

// The WebAssembly global as far as used here (the project's type libraries do not declare it).
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const { Module, Instance } = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

interface GearExports {
  memory: WasmMemory;
  findBoundary(start: number, end: number, maskS: number, maskL: number): number;
}

/** Where the data to cut starts in the module's memory (the gear table is before it). */
const DATA = 1024;
const PAGE = 65536;

// One instance per thread (each worker that imports this gets its own); 232 bytes compile at once.
const gear = new Instance(new Module(Buffer.from(GEAR_CHUNKER_WASM, 'base64'))).exports as GearExports;
new Int32Array(gear.memory.buffer, 0, 256).set(gearTable());

/**
 * The chunk ends in `buf[start, end)`: each chunk is cut where at least MAX_CHUNK bytes follow
 * its start (so more data could not move the boundary); with `final` the rest is cut to the end
 * too. Returns the ends (offsets into `buf`) in order; the last one is where the uncut rest starts.
 */
export function cutPoints(buf: Uint8Array, start: number, end: number, final: boolean): number[] {
  const ends: number[] = [];
  const len = end - start;
  if (len <= 0 || (!final && len < MAX_CHUNK)) return ends;
  const need = DATA + len;
  if (gear.memory.buffer.byteLength < need) gear.memory.grow(Math.ceil((need - gear.memory.buffer.byteLength) / PAGE));
  new Uint8Array(gear.memory.buffer, DATA, len).set(buf.subarray(start, end));
  const stop = DATA + len;
  let s = DATA;
  while (final ? s < stop : stop - s >= MAX_CHUNK) {
    s = gear.findBoundary(s, stop, MASK_S, MASK_L);
    ends.push(s - DATA + start);
  }
  return ends;
}

/**
 * The chunks of a stream fed one piece at a time: `tail` (the uncut rest of the earlier pieces)
 * then `data`. Calls `each` with every chunk completed, cut as cutPoints cuts (a view that is
 * valid only during the call), and returns the new uncut rest (a copy; empty after `final`).
 */
export function cutStream(tail: Uint8Array, data: Uint8Array, final: boolean, each: (chunk: Uint8Array) => void): Uint8Array {
  const len = tail.length + data.length;
  const need = DATA + len;
  if (gear.memory.buffer.byteLength < need) gear.memory.grow(Math.ceil((need - gear.memory.buffer.byteLength) / PAGE));
  const mem = new Uint8Array(gear.memory.buffer);
  mem.set(tail, DATA);
  mem.set(data, DATA + tail.length);
  const stop = DATA + len;
  let s = DATA;
  while (final ? s < stop : stop - s >= MAX_CHUNK) {
    const e = gear.findBoundary(s, stop, MASK_S, MASK_L);
    each(mem.subarray(s, e));
    s = e;
  }
  return mem.slice(s, stop);
}
