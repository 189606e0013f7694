// narinfo and nix-cache-info files, parsed and written exactly as Nix 2.8 does
// (libstore/nar-info.cc, binary-cache-store.cc): "Key: value" lines, unknown keys ignored,
// Compression defaulting to bzip2, hashes re-rendered as `sha256:<nixbase32>`.
import { InvalidInputError } from '../errors.js';
import { formatSha256, parseSha256 } from './hash-text.js';
import { parseStorePath, parseStorePathBaseName } from '../nix/store-path.js';

export const NIX_STORE_DIR = '/nix/store';

/** A narinfo: where a store path's (compressed) NAR is and what it holds. */
export interface NarInfo {
  /** Full store path. */
  storePath: string;
  /** NAR location relative to the cache root (or absolute URL). */
  url: string;
  /** 'none' | 'xz' | 'zstd' | 'bzip2' | 'br' … (Nix's default when absent: bzip2). */
  compression: string;
  /** sha256 of the compressed file, or null if not given. */
  fileHash: Buffer | null;
  fileSize: number | null;
  /** sha256 of the uncompressed NAR (32 bytes). */
  narHash: Buffer;
  narSize: number;
  /** Reference basenames (`<hash>-<name>`), sorted, as narinfo files list them. */
  references: string[];
  /** Deriver basename, or null. */
  deriver: string | null;
  /** `keyname:base64sig`, sorted (Nix keeps them in a set). */
  sigs: string[];
  ca: string | null;
  system?: string | null;
}

/** nix-cache-info of a binary cache. */
export interface CacheInfo {
  storeDir: string;
  wantMassQuery: boolean;
  priority: number | null;
}

/** Checks `<hash>-<name>` (a store path's basename) the way Nix 2.8's StorePath constructor does. */
export function isStorePathBaseName(s: string): boolean {
  try {
    parseStorePathBaseName(s);
    return true;
  } catch {
    return false;
  }
}

/** The basename of a full store path, or throws naming `what` and the reason. */
export function storePathBaseName(path: string, what = 'store path'): string {
  try {
    const p = parseStorePath(path, NIX_STORE_DIR);
    return `${p.hashPart}-${p.name}`;
  } catch (err) {
    throw new InvalidInputError(what, `'${path}' is not a valid store path in ${NIX_STORE_DIR}: ${(err as Error).message}`);
  }
}

/** The 32-char hash part of a full store path or basename. */
export function hashPartOf(pathOrBase: string): string {
  const base = pathOrBase.startsWith('/') ? storePathBaseName(pathOrBase) : pathOrBase;
  return base.slice(0, 32);
}

function nonNegativeInt(value: string, field: string, whence: string): number {
  if (!/^[0-9]+$/.test(value)) throw corrupt(whence, `${field} '${value}' is not a number`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw corrupt(whence, `${field} '${value}' is too large`);
  return n;
}

function corrupt(whence: string, why: string): InvalidInputError {
  return new InvalidInputError(`NAR info file '${whence}'`, `is corrupt: ${why}`, { whence });
}

/** Parses a narinfo; `whence` names it in errors (e.g. the URL it came from). */
export function parseNarInfo(text: string, whence: string): NarInfo {
  let storePath: string | null = null;
  let url = '';
  let compression = '';
  let fileHash: Buffer | null = null;
  let fileSize: number | null = null;
  let narHash: Buffer | null = null;
  let narSize = 0;
  let references: string[] | null = null;
  let deriver: string | null = null;
  let system: string | null = null;
  const sigs = new Set<string>();
  let ca: string | null = null;

  let pos = 0;
  while (pos < text.length) {
    const colon = text.indexOf(':', pos);
    if (colon < 0) throw corrupt(whence, `line ${lineOf(text, pos)} has no ':'`);
    const name = text.slice(pos, colon);
    const eol = text.indexOf('\n', colon + 2);
    if (eol < 0) throw corrupt(whence, `line ${lineOf(text, pos)} does not end with a newline`);
    const value = text.slice(colon + 2, eol);
    const field = `${name} of '${whence}'`;
    switch (name) {
      case 'StorePath': storePath = NIX_STORE_DIR + '/' + storePathBaseName(value, field); break;
      case 'URL': url = value; break;
      case 'Compression': compression = value; break;
      case 'FileHash': fileHash = parseSha256(value, field); break;
      case 'FileSize': fileSize = nonNegativeInt(value, name, whence); break;
      case 'NarHash': narHash = parseSha256(value, field); break;
      case 'NarSize': narSize = nonNegativeInt(value, name, whence); break;
      case 'References': {
        if (references) throw corrupt(whence, 'References given twice');
        references = value.split(' ').filter((r) => r !== '');
        for (const r of references) if (!isStorePathBaseName(r)) throw corrupt(whence, `reference '${r}' is not a store path basename`);
        break;
      }
      case 'Deriver':
        if (value !== 'unknown-deriver') {
          if (!isStorePathBaseName(value)) throw corrupt(whence, `deriver '${value}' is not a store path basename`);
          deriver = value;
        }
        break;
      case 'System': system = value; break;
      case 'Sig': sigs.add(value); break;
      case 'CA':
        if (ca !== null) throw corrupt(whence, 'CA given twice');
        ca = value === '' ? null : value;
        break;
      default: break; // unknown keys are ignored, as Nix does
    }
    pos = eol + 1;
  }
  if (compression === '') compression = 'bzip2';
  if (!storePath) throw corrupt(whence, 'StorePath is missing');
  if (!narHash) throw corrupt(whence, 'NarHash is missing');
  if (url === '') throw corrupt(whence, 'URL is missing');
  if (narSize === 0) throw corrupt(whence, 'NarSize is missing or 0');
  return {
    storePath, url, compression, fileHash, fileSize, narHash, narSize,
    references: [...new Set(references ?? [])].sort(), deriver, sigs: [...sigs].sort(), ca, system,
  };
}

function lineOf(text: string, pos: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Writes a narinfo byte-for-byte as Nix 2.8's NarInfo::to_string (FileHash/FileSize only when known). */
export function formatNarInfo(info: NarInfo): string {
  let s = `StorePath: ${info.storePath}\nURL: ${info.url}\nCompression: ${info.compression}\n`;
  if (info.fileHash) s += `FileHash: ${formatSha256(info.fileHash)}\n`;
  if (info.fileSize !== null) s += `FileSize: ${info.fileSize}\n`;
  s += `NarHash: ${formatSha256(info.narHash)}\nNarSize: ${info.narSize}\n`;
  s += `References: ${[...info.references].sort().join(' ')}\n`;
  if (info.deriver) s += `Deriver: ${info.deriver}\n`;
  for (const sig of [...info.sigs].sort()) s += `Sig: ${sig}\n`;
  if (info.ca) s += `CA: ${info.ca}\n`;
  return s;
}

/** Parses nix-cache-info (Nix reads StoreDir, WantMassQuery and Priority; the rest is ignored). */
export function parseCacheInfo(text: string, whence: string): CacheInfo {
  const info: CacheInfo = { storeDir: NIX_STORE_DIR, wantMassQuery: false, priority: null };
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name === 'StoreDir') info.storeDir = value;
    else if (name === 'WantMassQuery') info.wantMassQuery = value === '1';
    else if (name === 'Priority') {
      if (!/^[0-9]+$/.test(value)) throw new InvalidInputError(`nix-cache-info '${whence}'`, `Priority '${value}' is not a number`);
      info.priority = Number(value);
    }
  }
  return info;
}

export function formatCacheInfo(info: CacheInfo): string {
  let s = `StoreDir: ${info.storeDir}\n`;
  if (info.wantMassQuery) s += 'WantMassQuery: 1\n';
  if (info.priority !== null) s += `Priority: ${info.priority}\n`;
  return s;
}
