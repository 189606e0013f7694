// A binary cache in a local directory (`file:///dir`), laid out as Nix writes it:
// nix-cache-info, <hashpart>.narinfo, nar/<filehash>.nar<ext>.
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, InvalidInputError } from '../errors.js';
import { formatCacheInfo, formatNarInfo, parseCacheInfo, parseNarInfo, type CacheInfo, type NarInfo, NIX_STORE_DIR } from './narinfo.js';
import { DEFAULT_PRIORITY, NarInfoCache, type BinaryCacheWriter, type Substituter, type SubstituterOptions } from './substituter.js';

export class FileBinaryCache implements Substituter, BinaryCacheWriter {
  readonly root: string;
  private readonly narInfos: NarInfoCache;
  private info: Promise<CacheInfo> | null = null;

  constructor(readonly url: string, private readonly opts: SubstituterOptions = {}) {
    if (!/^file:\/\/\//i.test(url)) throw new ConfigError(`'${url}': a file cache URL needs an absolute path, e.g. file:///var/cache/nix`, { url });
    this.root = fileURLToPath(url);
    this.narInfos = new NarInfoCache(opts.positiveTtl, opts.negativeTtl).persistIn(opts.persist, url);
  }

  async priority(): Promise<number> {
    return this.opts.priority ?? (await this.cacheInfo()).priority ?? DEFAULT_PRIORITY;
  }

  cacheInfo(): Promise<CacheInfo> {
    this.info ??= readFile(join(this.root, 'nix-cache-info'), 'utf8').then(
      (t) => parseCacheInfo(t, `${this.url}/nix-cache-info`),
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return { storeDir: NIX_STORE_DIR, wantMassQuery: false, priority: null };
        throw e;
      },
    );
    return this.info;
  }

  async queryNarInfo(hashPart: string): Promise<NarInfo | null> {
    checkHashPart(hashPart);
    const known = await this.narInfos.lookup(hashPart);
    if (known !== undefined) return known;
    const info = await this.readNarInfo(hashPart);
    await this.narInfos.remember(hashPart, info);
    return info;
  }

  private async readNarInfo(hashPart: string): Promise<NarInfo | null> {
    const file = join(this.root, `${hashPart}.narinfo`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return parseNarInfo(text, `${this.url}/${hashPart}.narinfo`);
  }

  async fetchNar(info: NarInfo): Promise<AsyncIterable<Buffer>> {
    const file = this.resolveInside(info.url);
    const fh = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new InvalidInputError(`binary cache '${this.url}'`, `NAR file '${info.url}' of '${info.storePath}' does not exist`);
      throw e;
    });
    return createReadStream('', { fd: fh, highWaterMark: 1 << 20 });
  }

  async hasNarInfo(hashPart: string): Promise<boolean> {
    checkHashPart(hashPart);
    return (await this.readNarInfo(hashPart)) !== null;
  }

  async putFile(relPath: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, _contentType: string): Promise<void> {
    const file = this.resolveInside(relPath);
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const fh = await open(tmp, 'w');
    try {
      for await (const chunk of data) await fh.write(chunk);
      await fh.close();
      await rename(tmp, file);
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async putNarInfo(info: NarInfo): Promise<void> {
    await this.ensureCacheInfo();
    const hashPart = info.storePath.slice(NIX_STORE_DIR.length + 1, NIX_STORE_DIR.length + 33);
    await this.putFile(`${hashPart}.narinfo`, [Buffer.from(formatNarInfo(info))], 'text/x-nix-narinfo');
    await this.narInfos.remember(hashPart, info);
  }

  /** Nix writes nix-cache-info when it first opens an empty cache; do the same before the first narinfo. */
  private async ensureCacheInfo(): Promise<void> {
    const file = join(this.root, 'nix-cache-info');
    try {
      await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await this.putFile('nix-cache-info', [Buffer.from(formatCacheInfo({ storeDir: NIX_STORE_DIR, wantMassQuery: false, priority: null }))], 'text/x-nix-cache-info');
      this.info = null;
    }
  }

  /** A narinfo URL is data from the cache: it must not point outside the cache directory. */
  private resolveInside(rel: string): string {
    const file = resolve(this.root, rel);
    if (!file.startsWith(this.root.replace(/\/?$/, '/')) || /^[a-z]+:/i.test(rel)) {
      throw new InvalidInputError(`binary cache '${this.url}'`, `file '${rel}' is outside the cache`);
    }
    return file;
  }
}

export function checkHashPart(hashPart: string): void {
  if (!/^[0-9abcdfghijklmnpqrsvwxyz]{32}$/.test(hashPart)) throw new InvalidInputError('store path hash', `'${hashPart}' is not 32 nixbase32 characters`);
}
