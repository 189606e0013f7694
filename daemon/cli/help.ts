// What `tsix --help` and `tsix COMMAND --help` print: one line of purpose and the synopsis of each
// command, next to the Nix command it stands in for.
export const HELP: Record<string, { what: string; synopsis: string[] }> = {
  'build': { what: 'build derivations, as nix-build', synopsis: ['tsix build [FILE | -E EXPR] [-A ATTR]... [--arg NAME EXPR] [--argstr NAME STR] [-I PATH]', '  [-o LINK | --no-out-link] [-j N] [--builder URL] [--timeout SECONDS] [-K] [DRV...]'] },
  'copy': { what: 'copy closures between stores and binary caches, as nix copy', synopsis: ['tsix copy [--from URL] [--to URL] [--no-check-sigs] [--trusted-public-key KEY]... [--secret-key FILE]', '  [--compression xz|zstd|bzip2|none] [-j N] PATH...'] },
  'daemon': { what: 'serve the store: FUSE mount, client socket, builds on lookup, binary cache', synopsis: ['tsix daemon [--mount DIR] [--no-mount] [--allow-other] [--list-root] [--builder URL] [-j N] [--lookup-timeout SECONDS]', '  [--substituter URL]... [--trusted-public-key NAME:KEY]... [--secret-key FILE]', '  [--listen HOST:PORT [--compression none|zstd] [--allow-loopback-upload] [--upload-token-file FILE]]'] },
  'eval': { what: 'evaluate a Nix expression, as nix-instantiate --eval', synopsis: ['tsix eval [--strict] [--json | --xml] [-A ATTR]... [--arg NAME EXPR] [--argstr NAME STR] [-I PATH] [--show-trace] (FILE | -E EXPR)'] },
  'hash': { what: 'hash a path or file, as nix hash', synopsis: ['tsix hash path|file [--type md5|sha1|sha256|sha512] [--base16|--base32|--base64|--sri] PATH...'] },
  'instantiate': { what: 'write store derivations, as nix-instantiate', synopsis: ['tsix instantiate [FILE | -E EXPR] [-A ATTR]... [--arg NAME EXPR] [--argstr NAME STR] [-I PATH] [--dry-run]'] },
  'log': { what: 'print the build log of a derivation or output, as nix log', synopsis: ['tsix log PATH'] },
  'path-info': { what: 'show store path metadata, as nix path-info', synopsis: ['tsix path-info [--json] [-r] PATH...'] },
  'serve-cache': { what: 'serve the store as a Nix binary cache over HTTP', synopsis: ['tsix serve-cache --listen HOST:PORT [--secret-key FILE] [--compression none|zstd] [--priority N]', '  [--upload-token-file FILE] [--allow-loopback-upload] [--upload-trusted-public-key KEY]...'] },
  'show-derivation': { what: 'print derivations as JSON, as nix show-derivation', synopsis: ['tsix show-derivation [-r] PATH...'] },
  'status': { what: 'what a running daemon is doing: mount, builds, recent failures', synopsis: ['tsix status'] },
  'store': { what: 'store paths: add, dump, restore, list, read, verify, sign', synopsis: [
    'tsix store add PATH...                         (nix-store --add)',
    'tsix store add-fixed [--recursive] ALGO PATH...  (nix-store --add-fixed)',
    'tsix store dump PATH > NAR                     (nix-store --dump)',
    'tsix store restore DIR < NAR                   (nix-store --restore)',
    'tsix store ls [-l] [-R] PATH[/sub]             (nix store ls)',
    'tsix store cat PATH/sub/file                   (nix store cat)',
    'tsix store verify [--check-contents]           (nix-store --verify)',
    'tsix store sign --key-file FILE [-r] PATH...   (nix store sign)',
    'tsix store verify-sigs [--trusted-public-key KEY]... [--sigs-needed N] [--no-contents] [--no-trust] [-r] PATH...',
    'tsix store generate-key NAME SECRET-FILE PUBLIC-FILE',
  ] },
};

/** The overview: global options and one line per command. */
export function overview(version: string): string {
  const width = Math.max(...Object.keys(HELP).map((k) => k.length));
  return [
    `tsix ${version}: the Nix store, evaluator and builder, served as a lazy read-only FUSE /nix/store`,
    '',
    'usage: tsix [--store URL] [--verbose] COMMAND ...',
    '  --store URL   level:///abs/dir (default $TSIX_STORE, else level://$XDG_DATA_HOME/tsix/store) or memory://',
    '  --verbose     debug logs on stderr (or TSIX_LOG=debug|info)',
    '',
    'commands:',
    ...Object.entries(HELP).map(([k, h]) => `  ${k.padEnd(width)}  ${h.what}`),
    '',
    "'tsix COMMAND --help' shows a command's options.",
    '',
  ].join('\n');
}

/** One command's purpose and synopsis. */
export function commandHelp(name: string): string {
  const h = HELP[name]!;
  return `${h.synopsis.map((l, i) => (i === 0 && !l.startsWith('tsix store ') ? `usage: ${l}` : l)).join('\n')}\n\n${h.what}\n`;
}
