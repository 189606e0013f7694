import type { BlobStat, Digest } from './nodes.js';

/**
 * Content-addressed file contents. A blob is addressed by BLAKE3 of its whole contents and
 * stored as content-defined chunks (each addressed by its own BLAKE3), so identical chunks are
 * stored once and a read at any offset touches only the chunks it overlaps.
 */
export interface BlobService {
  /** Size and chunk list of a blob, or null if absent. */
  stat(digest: Digest): Promise<BlobStat | null>;

  /** Bytes [offset, offset+length) of a blob (shorter at its end), or null if absent. Reads only the chunks it needs. */
  read(digest: Digest, offset: number, length: number): Promise<Buffer | null>;

  /** The whole blob as a stream of buffers, or null if absent. */
  open(digest: Digest): Promise<AsyncIterable<Buffer> | null>;

  /** A writer for a new blob; nothing is visible under its digest until `close` resolves. */
  writer(): BlobWriter;

  /** Whether a chunk is stored (for verification and copying). */
  hasChunk(digest: Digest): Promise<boolean>;

  /** Every chunk must be verifiable: returns a chunk's bytes, or null. */
  readChunk(digest: Digest): Promise<Buffer | null>;

  /**
   * For readers that fetch and verify chunk bytes themselves (the FUSE read workers): a blob's
   * chunks with the local files and offsets holding their bytes. Null if the blob is absent or
   * its bytes are not all in local files (then use read()); small blobs come `inline`.
   */
  layout?(digest: Digest): Promise<BlobLayout | null>;
}

export interface BlobLayout {
  size: number;
  /** The whole contents of a blob kept inline (no chunk files), else null. */
  inline: Buffer | null;
  /** Chunks in order (empty for inline blobs), each with the file and offset of its bytes (unverified). */
  chunks: { digest: Digest; size: number; path: string; offset: number }[];
}

export interface BlobWriter {
  /** Appends bytes; the buffer may be reused by the caller once the promise resolves. */
  write(data: Uint8Array): Promise<void>;
  /** Flushes the remaining chunks and the chunk index; resolves to the blob's digest and size. */
  close(): Promise<{ digest: Digest; size: number }>;
}
