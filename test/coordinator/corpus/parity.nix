# A corpus of busybox builds for parity with nix-build (sandbox, /bin/sh = busybox).
{ fetchBase ? "http://127.0.0.1:1" }:
let
  sh = script: attrs: derivation ({ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" script ]; } // attrs);
  fileHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; # sha256 of "" (flat)
in rec {
  hello = sh "echo hello > $out" { name = "hello"; };
  empty-dir = sh "mkdir $out" { name = "empty-dir"; };
  tree = sh "mkdir -p $out/a/b $out/empty; echo x > $out/a/b/f; printf '#!/bin/sh\\n' > $out/run; chmod +x $out/run; ln -s a/b/f $out/rel; ln -s /nonexistent $out/dangling" { name = "tree"; };
  multi = sh "mkdir $out $dev $doc; echo lib > $out/lib; echo hdr > $dev/include; echo $out > $doc/ref-to-out" { name = "multi"; outputs = [ "out" "dev" "doc" ]; };
  uses-dev = sh "mkdir $out; cat ${multi.dev}/include > $out/copied; echo ${multi.dev} > $out/ref" { name = "uses-dev"; };
  self-ref = sh "mkdir $out; echo $out > $out/me" { name = "self-ref"; };
  refers-input = sh "echo ${hello} > $out" { name = "refers-input"; };
  copies-input = sh "cat ${hello} > $out" { name = "copies-input"; };
  symlink-ref = sh "ln -s ${hello} $out" { name = "symlink-ref"; };
  chain-a = sh "echo a > $out" { name = "chain-a"; };
  chain-b = sh "cat ${chain-a} > $out; echo b >> $out" { name = "chain-b"; };
  chain-c = sh "mkdir $out; cat ${chain-b} > $out/c; ln -s ${chain-b} $out/b" { name = "chain-c"; };
  diamond-top = sh "echo top > $out" { name = "diamond-top"; };
  diamond-left = sh "echo left ${diamond-top} > $out" { name = "diamond-left"; };
  diamond-right = sh "echo right ${diamond-top} > $out" { name = "diamond-right"; };
  diamond-bottom = sh "mkdir $out; cat ${diamond-left} ${diamond-right} > $out/both" { name = "diamond-bottom"; };
  cross-outputs = sh "mkdir $out $bin; echo $bin > $out/bin-path; echo bin > $bin/b" { name = "cross-outputs"; outputs = [ "out" "bin" ]; };
  pass-as-file = sh "cat $bigPath > $out; echo >> $out; echo $bigPath >> $out" { name = "pass-as-file"; passAsFile = [ "big" ]; big = "a large value\nwith lines"; };
  env-vars = sh "echo $HOME $NIX_STORE $NIX_BUILD_TOP $TMPDIR $PWD $PATH $TERM $NIX_LOG_FD $name $system > $out" { name = "env-vars"; };
  fod-flat = sh "printf '' > $out" { name = "fod-flat"; outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = fileHash; };
  fod-recursive = sh "mkdir $out; echo fixed > $out/f" { name = "fod-recursive"; outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = "sha256-EAYPGzzZJppauAqI3bolptbvpFyr0ZcWvusKih+srYw="; };
  uses-fod = sh "cat ${fod-recursive}/f > $out" { name = "uses-fod"; };
  args-and-attrs = derivation { name = "args-and-attrs"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo $1 $2 $flag $num $list > $out" "ignored" "one" "two" ]; flag = true; num = 42; list = [ "x" "y" ]; };
  fetched = import <nix/fetchurl.nix> { url = "${fetchBase}/data.txt"; sha256 = "1vbr97dy3wr1jv2mvg477bg2q6gdsa9kc3icanhy238gk76r24i9"; };
  uses-fetched = sh "cat ${fetched} > $out" { name = "uses-fetched"; };
}
