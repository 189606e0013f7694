// The 50-derivation graph of trivial busybox builds that bench:build (against nix-build) and
// bench:cri (CRI against OCI) realise.

export const GRAPH_SIZE = 50;

/** Derivation i depends on i-1 and i/2: a graph with chains and fan-in, 2-wide parallelism available. */
export function graph(N = GRAPH_SIZE): string {
  const lines = ['{ salt }:', 'let', '  mk = name: deps: derivation { inherit name salt; system = "x86_64-linux"; builder = "/bin/sh";', '    args = [ "-c" "mkdir $out; echo $name > $out/name; for d in $deps; do echo $d >> $out/deps; done" ]; deps = deps; };'];
  for (let i = 0; i < N; i++) {
    const deps = i === 0 ? [] : [...new Set([i - 1, Math.floor(i / 2)])].map((d) => `d${d}`);
    lines.push(`  d${i} = mk "d${i}" [ ${deps.join(' ')} ];`);
  }
  lines.push(`in d${N - 1}`);
  return lines.join('\n') + '\n';
}
