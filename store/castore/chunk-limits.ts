// FastCDC chunk size limits (see chunker.ts), apart from the chunker so that readers sizing
// buffers by them need not load it.
export const MIN_CHUNK = 16 * 1024;
export const AVG_CHUNK = 64 * 1024;
export const MAX_CHUNK = 256 * 1024;
