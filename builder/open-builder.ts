// Chooses a builder backend by URL:
//   oci://                          runc, state in <tmpdir>/tsix-oci (the default)
//   oci:///var/lib/tsix/oci         runc, state in that directory
//   oci://?runc=/usr/sbin/runc&root=/run/runc&idBase=1862270976
//   cri+unix:///run/containerd/containerd.sock   a CRI runtime (containerd) on that socket
import { ConfigError } from '../store/errors.js';
import type { BuildService } from './build-service.js';

export const DEFAULT_BUILDER_URL = 'oci://';

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ConfigError(`invalid builder URL ${JSON.stringify(url)} (expected oci://[/state/dir] or cri+unix:///path/to/socket)`, { url });
  }
}

function ociOptions(u: URL): Record<string, unknown> {
  if (u.host !== '') throw new ConfigError(`builder URL ${u.href}: oci:// takes a path (oci:///state/dir), not a host`, { url: u.href });
  const known = new Set(['runc', 'root', 'idBase']);
  for (const k of u.searchParams.keys()) if (!known.has(k)) throw new ConfigError(`builder URL ${u.href}: unknown option '${k}' (known: ${[...known].join(', ')})`, { url: u.href });
  const idBase = u.searchParams.get('idBase');
  if (idBase !== null && !/^\d+$/.test(idBase)) throw new ConfigError(`builder URL ${u.href}: idBase must be a number`, { url: u.href });
  const path = decodeURIComponent(u.pathname);
  return {
    ...(path && path !== '/' ? { stateDir: path } : {}),
    ...(u.searchParams.has('runc') ? { runc: u.searchParams.get('runc')! } : {}),
    ...(u.searchParams.has('root') ? { runcRoot: u.searchParams.get('root')! } : {}),
    ...(idBase !== null ? { hostIdBase: Number(idBase) } : {}),
  };
}

/** Throws ConfigError for a URL openBuilder would refuse before reaching the backend (a bad
 *  scheme or option), without starting anything. */
export function checkBuilderUrl(url: string = DEFAULT_BUILDER_URL): void {
  const u = parse(url);
  if (u.protocol === 'oci:') ociOptions(u);
  else if (u.protocol !== 'cri+unix:') throw unknownScheme(url, u);
}

function unknownScheme(url: string, u: URL): ConfigError {
  return new ConfigError(`builder URL ${url}: unknown scheme '${u.protocol}' (expected oci:// or cri+unix://)`, { url });
}

/** Opens the backend `url` names (default oci://). Throws ConfigError for an unusable URL. */
export async function openBuilder(url: string = DEFAULT_BUILDER_URL): Promise<BuildService> {
  const u = parse(url);
  switch (u.protocol) {
    case 'oci:': {
      const { createOciBuildService } = await import('./oci/oci-build-service.js');
      return createOciBuildService(ociOptions(u));
    }
    case 'cri+unix:': {
      const mod = await import('./cri/cri-build-service.js');
      return mod.createCriBuildService(url);
    }
    default:
      throw unknownScheme(url, u);
  }
}
