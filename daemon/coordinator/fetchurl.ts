// builtin:fetchurl, run in this process as Nix runs it in its own: download `url` to the output
// path (a file; executable if asked; a NAR unpacked if `unpack`). The caller checks the hash.
import { chmod, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { TsixError } from '../../store/errors.js';
import type { Derivation } from '../../eval/derivation/derivation.js';
import { caForUrl } from '../../store/cache/tls-ca.js';

export class FetchFailedError extends TsixError {
  constructor(url: string, message: string) {
    super('E_FETCH', `unable to download '${url}': ${message}`, { url });
  }
}

export async function runBuiltinFetchurl(drv: Derivation, outHostPath: string): Promise<void> {
  const url = drv.env.get('url');
  if (!url) throw new FetchFailedError('', "builtin:fetchurl needs the attribute 'url'");
  const data = await download(url);
  await mkdir(dirname(outHostPath), { recursive: true });
  if (drv.env.get('unpack') === '1') {
    const { restoreNarToFs } = await import('../../store/nix/nar-restore-fs.js');
    await restoreNarToFs(Readable.from([data]), outHostPath);
    return;
  }
  await writeFile(outHostPath, data);
  await chmod(outHostPath, drv.env.get('executable') === '1' ? 0o555 : 0o444);
}

async function download(url: string): Promise<Buffer> {
  // Global fetch cannot take extra CAs (tls-ca.ts); node:https can.
  const ca = caForUrl(url);
  if (ca) {
    const { httpsGet } = await import('../../store/cache/https-get.js');
    return httpsGet(url, ca).catch((err: Error) => Promise.reject(new FetchFailedError(url, err.message)));
  }
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw new FetchFailedError(url, (err as Error).message);
  }
  if (!res.ok) throw new FetchFailedError(url, `HTTP error ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}
