// Store URLs: `memory://`, `level:///abs/dir`; the default comes from $TSIX_STORE or
// level:// under $XDG_DATA_HOME/tsix/store.
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from './errors.js';

export type StoreLocation =
  | { kind: 'memory'; url: string }
  | { kind: 'level'; url: string; dir: string; params: URLSearchParams }
  | { kind: 'other'; url: string; scheme: string };

export function defaultStoreUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSIX_STORE) return env.TSIX_STORE;
  const data = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return `level://${join(data, 'tsix', 'store')}`;
}

export function parseStoreUrl(url: string): StoreLocation {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url);
  if (!m) throw new ConfigError(`invalid store URL '${url}': expected SCHEME://…, e.g. memory:// or level:///abs/dir`, { url });
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'memory') return { kind: 'memory', url };
  if (scheme === 'level') {
    const q = rest.indexOf('?');
    const dir = decodeURIComponent(q < 0 ? rest : rest.slice(0, q));
    if (!isAbsolute(dir)) throw new ConfigError(`invalid store URL '${url}': level:// needs an absolute directory, e.g. level:///var/lib/tsix`, { url });
    return { kind: 'level', url, dir, params: new URLSearchParams(q < 0 ? '' : rest.slice(q + 1)) };
  }
  return { kind: 'other', url, scheme };
}

/** Where a running daemon for this store listens (null for stores no daemon can own). */
export function daemonSocketPath(url: string): string | null {
  const loc = parseStoreUrl(url);
  return loc.kind === 'level' ? join(loc.dir, 'daemon.sock') : null;
}
