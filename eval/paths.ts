// Path helpers with Nix's canonPath semantics (no symlink resolution; `.` and `..` removed).

export function canonPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') { out.pop(); continue; }
    out.push(seg);
  }
  return '/' + out.join('/');
}

export function baseNameOf(p: string): string {
  let end = p.length;
  if (end > 0 && p[end - 1] === '/') end--;
  const i = p.lastIndexOf('/', end - 1);
  return p.slice(i + 1, end);
}

export function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return p.slice(0, i);
}
