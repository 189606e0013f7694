// The CRI backend's URL: cri+unix:///path/to/containerd.sock[?image=NAME][&state=/dir]
//   image  the image every build container starts from (default: the one test/setup/cri-up.sh
//          imports; its content stays invisible behind the sandbox's mounts but must exist)
//   state  host directory for the builds' scratch directories (default <tmpdir>/tsix-cri-builds)
//   prewarm=1  keep one pod started ahead for the next build (no network, no pids limit): hides the
//          pod's start-up from build latency, at the price of one idle pod while the service is open
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../store/errors.js';

export const DEFAULT_CRI_IMAGE = 'localhost/tsix-build:local';

export interface CriOptions {
  /** The runtime's unix socket. */
  socket: string;
  image: string;
  stateDir: string;
  prewarm: boolean;
}

const KNOWN = new Set(['image', 'state', 'prewarm']);

/** Parses a cri+unix:// URL; throws ConfigError naming what is wrong. */
export function parseCriUrl(url: string): CriOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`invalid CRI builder URL ${JSON.stringify(url)} (expected cri+unix:///path/to/socket[?image=NAME])`, { url });
  }
  if (u.protocol !== 'cri+unix:') throw new ConfigError(`CRI builder URL ${url}: the scheme must be cri+unix:, not ${u.protocol}`, { url });
  if (u.host !== '') throw new ConfigError(`CRI builder URL ${url}: cri+unix:// takes a socket path (cri+unix:///run/containerd/containerd.sock), not a host`, { url });
  const socket = decodeURIComponent(u.pathname);
  if (socket === '' || socket === '/') throw new ConfigError(`CRI builder URL ${url}: the socket path is missing`, { url });
  for (const k of u.searchParams.keys()) if (!KNOWN.has(k)) throw new ConfigError(`CRI builder URL ${url}: unknown option '${k}' (known: ${[...KNOWN].join(', ')})`, { url });
  const image = u.searchParams.get('image') ?? DEFAULT_CRI_IMAGE;
  if (image === '') throw new ConfigError(`CRI builder URL ${url}: image must not be empty`, { url });
  const state = u.searchParams.get('state');
  if (state !== null && !state.startsWith('/')) throw new ConfigError(`CRI builder URL ${url}: state must be an absolute path`, { url });
  const prewarm = u.searchParams.get('prewarm') ?? '0';
  if (prewarm !== '0' && prewarm !== '1') throw new ConfigError(`CRI builder URL ${url}: prewarm must be 0 or 1`, { url });
  return { socket, image, stateDir: state ?? join(tmpdir(), 'tsix-cri-builds'), prewarm: prewarm === '1' };
}
