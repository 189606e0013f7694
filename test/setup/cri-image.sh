#!/bin/bash
# Builds the two images the CRI backend's tests use, as one OCI image layout archive, without a
# registry: the pod "pause" image (busybox sleep, the sandbox's placeholder process) and the build
# image (empty mount-point directories only: every tool a build runs comes from its inputs, so
# nothing of the image is visible to it, as in Nix's sandbox).
# Usage: cri-image.sh OUT.tar PAUSE_NAME BUILD_NAME
set -euo pipefail
out=$1 pause=$2 build=$3
work=$(mktemp -d "$(dirname "$out")/.image.XXXXXX")
trap 'rm -rf "$work"' EXIT
blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"

# blob FILE -> prints "<sha256> <size>" and moves FILE into the layout.
blob() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
  mv "$1" "$blobs/$d"
  echo "$d $s"
}

# image ROOTDIR NAME CMD_JSON -> prints one index.json manifest entry.
image() {
  local root=$1 name=$2 cmd=$3 ld ls cd cs md ms
  # Reproducible, uncompressed layer.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/layer.tar" .
  read -r ld ls < <(blob "$work/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"test/setup/cri-image.sh"}]}' \
    "$cmd" "$ld" > "$work/config.json"
  read -r cd cs < <(blob "$work/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$cs" "$ld" "$ls" > "$work/manifest.json"
  read -r md ms < <(blob "$work/manifest.json")
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}' \
    "$md" "$ms" "$name" "${name##*:}"
}

p=$work/pause
mkdir -p "$p/bin" "$p/proc" "$p/dev" "$p/sys" "$p/etc"
cp /bin/busybox "$p/bin/busybox"
ln -s busybox "$p/bin/sleep"
b=$work/build
mkdir -p "$b/proc" "$b/dev" "$b/sys" "$b/etc"
e1=$(image "$p" "$pause" '["/bin/sleep","2147483647"]')
e2=$(image "$b" "$build" 'null')
printf '{"schemaVersion":2,"manifests":[%s,%s]}' "$e1" "$e2" > "$work/layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/layout" -cf "$out" oci-layout index.json blobs
