// The CA certificates tsix's TLS connections trust. Node 20 parses NODE_EXTRA_CA_CERTS at every
// start-up (a 220 KB system bundle costs ~60 ms of CPU), though only downloads over https need
// it; the `tsix` launcher (daemon/cli/tsix) therefore hands the file on as TSIX_EXTRA_CA_CERTS,
// read here on the first TLS connection, as curl reads its CA file.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { logger } from '../log.js';

const require = createRequire(import.meta.url);
let loaded: { ca: string[] | undefined } | null = null;

/** The extra CA file tsix itself must load: none when Node already loaded NODE_EXTRA_CA_CERTS. */
function extraCaFile(): string | undefined {
  if (process.env.NODE_EXTRA_CA_CERTS) return undefined;
  return process.env.TSIX_EXTRA_CA_CERTS || undefined;
}

function load(file: string): string[] | undefined {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    // As Node does with an unreadable NODE_EXTRA_CA_CERTS: say so, and trust the defaults.
    logger('tls').warn({ file }, `ignoring extra certs from '${file}', load failed: ${(e as Error).message}`);
    return undefined;
  }
  // `ca` replaces the trusted roots rather than adding to them, so the defaults are listed too.
  const { rootCertificates } = require('node:tls') as typeof import('node:tls');
  return [...rootCertificates, pem];
}

/**
 * The `ca` option for a TLS connection: undefined when Node's defaults apply (no extra file, or
 * NODE_EXTRA_CA_CERTS set and so already loaded by Node); read once.
 */
export function tlsCa(): string[] | undefined {
  if (!loaded) {
    const file = extraCaFile();
    loaded = { ca: file ? load(file) : undefined };
  }
  return loaded.ca;
}

/** The CA list to download `url` with, when global fetch (which cannot take one) will not do. */
export function caForUrl(url: string): string[] | undefined {
  return /^https:/i.test(url) ? tlsCa() : undefined;
}
