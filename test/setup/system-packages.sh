#!/bin/bash
# Debian packages the test suite and benchmarks use as oracles and real components.
set -euo pipefail
PKGS=(nix-bin busybox-static runc containerd containernetworking-plugins squashfuse squashfs-tools attr
      zstd xz-utils bzip2 iproute2 util-linux hyperfine bc ca-certificates curl tar)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
