// Real Nix 2.8 as the oracle for the eval/lib tests: evaluate an expression with
// nix-instantiate and return its JSON, or its `error:` line when it fails.

import { execFile } from 'node:child_process';

export const NIX_ENV = { ...process.env, NIX_CONFIG: 'build-users-group =\nexperimental-features = nix-command', NIX_PATH: '' };

export interface NixResult { ok: boolean; stdout: string; error: string | null; code: number }

/** Runs nix-instantiate --eval with `flags` on `expr`; never throws for a failing evaluation. */
export function nixInstantiate(expr: string, flags: string[] = ['--strict', '--json']): Promise<NixResult> {
  return new Promise((resolve, reject) => {
    execFile('nix-instantiate', ['--eval', ...flags, '-E', expr], { env: NIX_ENV, maxBuffer: 1 << 28, cwd: '/' }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('nix-instantiate (Nix 2.8, Debian nix-bin) is needed for this test and is not installed'));
        return;
      }
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const line = stderr.split('\n').find((l) => l.startsWith('error: ')) ?? null;
      resolve({ ok: !err, stdout, error: line, code });
    });
  });
}

/** The JSON value of `expr` (strict); throws with Nix's error line when evaluation fails. */
export async function nixJson(expr: string): Promise<unknown> {
  const r = await nixInstantiate(expr);
  if (!r.ok) throw new Error(`nix failed on ${expr}: ${r.error}`);
  return JSON.parse(r.stdout);
}

/** A Nix string literal for any JS string. */
export function nixStr(s: string): string {
  return '"' + s.replace(/[\\"$]/g, (c) => '\\' + c).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t') + '"';
}
