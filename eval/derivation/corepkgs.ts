// Nix expressions that Nix 2.8 ships with the evaluator: `derivation` (a wrapper around
// derivationStrict) and <nix/fetchurl.nix> (the `builtin:fetchurl` fixed-output derivation).
// The evaluator parses these once; their observable behaviour matches Nix's corepkgs.

/**
 * `builtins.derivation` (Nix 2.8's src/libexpr/primops/derivation.nix verbatim, so positions in it
 * are Nix's; its generated header starts with a newline): calls derivationStrict and returns the first output's attribute set,
 * each output being `drvAttrs // { <outputs…>; all; drvAttrs } // { outPath; drvPath; type; outputName }`.
 */
export const DERIVATION_NIX = `
/* This is the implementation of the ‘derivation’ builtin function.
   It's actually a wrapper around the ‘derivationStrict’ primop. */

drvAttrs @ { outputs ? [ "out" ], ... }:

let

  strict = derivationStrict drvAttrs;

  commonAttrs = drvAttrs // (builtins.listToAttrs outputsList) //
    { all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };

  outputToAttrListElement = outputName:
    { name = outputName;
      value = commonAttrs // {
        outPath = builtins.getAttr outputName strict;
        drvPath = strict.drvPath;
        type = "derivation";
        inherit outputName;
      };
    };

  outputsList = map outputToAttrListElement outputs;

in (builtins.head outputsList).value
`;

/** The file behind \`import <nix/fetchurl.nix>\`. */
export const FETCHURL_NIX = `
{ system ? "" # unused, kept for compatibility
, url
, hash ? "" # SRI
, md5 ? "", sha1 ? "", sha256 ? "", sha512 ? ""
, outputHash ?
    if hash != "" then hash else if sha512 != "" then sha512 else if sha1 != "" then sha1 else if md5 != "" then md5 else sha256
, outputHashAlgo ?
    if hash != "" then "" else if sha512 != "" then "sha512" else if sha1 != "" then "sha1" else if md5 != "" then "md5" else "sha256"
, executable ? false
, unpack ? false
, name ? baseNameOf (toString url)
}:
derivation {
  builder = "builtin:fetchurl";
  inherit outputHashAlgo outputHash;
  outputHashMode = if unpack || executable then "recursive" else "flat";
  inherit name url executable unpack;
  system = "builtin";
  preferLocalBuild = true;
  impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
  urls = [ url ];
}
`;

/** Files under the `<nix/…>` search path entry (Nix's corepkgs). */
export const COREPKGS: Readonly<Record<string, string>> = {
  'fetchurl.nix': FETCHURL_NIX,
};
