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

  /**
   * The whole blob as a stream of buffers, or null if absent. With `transient`, the consumer
   * promises to be done with each buffer before it asks for the next, so the service may reuse
   * its read buffers (no allocation per piece).
   */
  open(digest: Digest, opts?: { transient?: boolean }): Promise<AsyncIterable<Buffer> | null>;

  /**
   * A writer for a new blob; nothing is visible under its digest until `close` resolves. With
   * `hashedByCaller`, the caller computes the blob's BLAKE3 itself from the very bytes it writes
   * and passes it to `close` (a service may then skip hashing the whole blob again; its chunks
   * are hashed and verified on read as always). `size`: the blob's size when known beforehand
   * (a service may choose how to store it by that).
   */
  writer(opts?: { hashedByCaller?: boolean; size?: number }): BlobWriter;

  /**
   * Optional: stores many small blobs at once (each whole in memory), in a few batched lookups
   * and writes instead of a writer each; resolves to their digests, in order, once all are stored.
   * `digests`, when given, are the BLAKE3 of each blob, computed by the caller from these very
   * bytes (an ingest hashes every file anyway): they are then not computed again. (A wrong one
   * would still be caught on read: inline blobs are verified against their digest.)
   */
  putSmall?(blobs: Buffer[], digests?: Digest[]): Promise<Digest[]>;

  /**
   * Optional: several whole blobs at once (meant for small ones), null for absent ones, in order;
   * verified like `read`. One batched lookup instead of one per blob. With `unchecked`, the blobs
   * come as stored, not checked: the caller must check each one's BLAKE3 against its digest
   * before it uses any of its bytes (the NAR writer does, on worker threads, see nar-out.ts).
   */
  readMany?(digests: Digest[], opts?: { unchecked?: boolean }): Promise<(Buffer | null)[]>;

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
  /**
   * Appends bytes; the buffer may be reused by the caller once the promise resolves. With
   * `owned`, the caller hands the buffer over (it never modifies it again), so the writer may
   * keep views of it instead of copying.
   */
  write(data: Uint8Array, owned?: boolean): Promise<void>;
  /**
   * Flushes the remaining chunks and the chunk index; resolves to the blob's digest and size.
   * `digest`: the caller's BLAKE3 of the contents (required for a `hashedByCaller` writer).
   */
  close(digest?: Digest): Promise<{ digest: Digest; size: number }>;
  /** Optional: gives the blob up (nothing is stored under it) and frees what the writer holds. */
  abort?(): void;
}
