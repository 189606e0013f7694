#!/bin/bash
# Starts a private containerd with its CRI plugin for the CRI builder backend's tests and benchmark,
# with two locally built images (no registry). Idempotent: a running instance is reused.
# Everything lives in $TSIX_CRI_DIR (default /tmp/tsix-cri); the socket is $TSIX_CRI_DIR/containerd.sock.
# test/setup/cri-down.sh removes it all again. Needs root and the Debian packages containerd, runc,
# containernetworking-plugins and busybox-static (test/setup/system-packages.sh).
#
# Facts this encodes: runc (not crun) on a cgroup-v1 hybrid host; restrict_oom_score_adj because a VM
# may lack CAP_SYS_RESOURCE for the sandbox's -998; pods get a network namespace holding only loopback
# (the "tsix-null" CNI plugin below reports a nominal address and creates nothing), so a build without
# network can reach neither the host nor other builds, and there is no bridge to clean up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
P=${TSIX_CRI_DIR:-/tmp/tsix-cri}
SOCK=$P/containerd.sock
PAUSE_IMAGE=localhost/tsix-pause:local
BUILD_IMAGE=localhost/tsix-build:local
ts() { date +%s.%N; }
t0=$(ts)

for b in containerd ctr /usr/sbin/runc /usr/lib/cni/loopback /bin/busybox; do
  command -v "$b" >/dev/null || { echo "cri-up: $b is missing (run test/setup/system-packages.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "cri-up: must run as root" >&2; exit 1; }

running() { [ -f "$P/containerd.pid" ] && kill -0 "$(cat "$P/containerd.pid")" 2>/dev/null && ctr --address "$SOCK" version >/dev/null 2>&1; }

if ! running; then
  mkdir -p "$P/cni/net.d" "$P/cni/bin" "$P/logs"
  ln -sf /usr/lib/cni/loopback "$P/cni/bin/loopback"
  cat > "$P/cni/bin/tsix-null" <<'S'
#!/bin/sh
# CNI plugin that configures nothing: the pod keeps a network namespace with only loopback.
# It reports a nominal documentation address (RFC 5737) because containerd requires an IP on eth0.
case "$CNI_COMMAND" in
  ADD) cat >/dev/null
       printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"192.0.2.1/32","interface":0}]}' "$CNI_IFNAME" "$CNI_NETNS" ;;
  DEL|CHECK) cat >/dev/null ;;
  VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
  *) printf '{"cniVersion":"0.4.0","code":4,"msg":"unknown CNI_COMMAND %s"}' "$CNI_COMMAND"; exit 1 ;;
esac
S
  chmod 755 "$P/cni/bin/tsix-null"
  printf '{"cniVersion":"0.4.0","name":"tsix-build-null","plugins":[{"type":"tsix-null"}]}\n' > "$P/cni/net.d/10-tsix-null.conflist"
  cat > "$P/config.toml" <<T
version = 2
root = "$P/root"
state = "$P/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$P/debug.sock"
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$P/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$P/cni/bin"
    conf_dir = "$P/cni/net.d"
    max_conf_num = 1
T
  containerd --config "$P/config.toml" > "$P/containerd.log" 2>&1 &
  echo $! > "$P/containerd.pid"
  for _ in $(seq 400); do running && break; kill -0 "$(cat "$P/containerd.pid")" 2>/dev/null || break; sleep 0.025; done
  running || { echo "cri-up: containerd did not start; its log:" >&2; tail -n 30 "$P/containerd.log" >&2; exit 1; }
fi
t1=$(ts)

C="ctr --address $SOCK -n k8s.io"
imgs=$($C images ls -q)
if ! grep -qx "$BUILD_IMAGE" <<<"$imgs" || ! grep -qx "$PAUSE_IMAGE" <<<"$imgs"; then
  "$here/cri-image.sh" "$P/images.tar" "$PAUSE_IMAGE" "$BUILD_IMAGE"
  $C images import "$P/images.tar" >/dev/null
  rm -f "$P/images.tar"
fi
t2=$(ts)
printf 'cri-up: containerd %.2fs, images %.2fs, total %.2fs; socket %s, build image %s\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)" "$SOCK" "$BUILD_IMAGE"
