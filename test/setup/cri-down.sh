#!/bin/bash
# Tears down what test/setup/cri-up.sh started and what its pods left: containers, shims,
# containerd, mounts under $TSIX_CRI_DIR, the pods' cgroups and CNI cache entries. Kills only pids
# recorded in pid files. Safe to run when nothing is up.
P=${TSIX_CRI_DIR:-/tmp/tsix-cri}
SOCK=$P/containerd.sock
C="ctr --address $SOCK -n k8s.io"
alive() { [ -f "$P/containerd.pid" ] && kill -0 "$(cat "$P/containerd.pid")" 2>/dev/null; }
ids=""
if alive && [ -S "$SOCK" ]; then
  # Sandbox and container ids, to remove libcni's cache entries of the pods afterwards.
  ids=$($C containers ls -q 2>/dev/null)
  for t in $($C tasks ls -q 2>/dev/null); do $C tasks kill -s SIGKILL "$t" 2>/dev/null; done
  for t in $($C tasks ls -q 2>/dev/null); do
    for _ in $(seq 40); do $C tasks delete -f "$t" >/dev/null 2>&1 && break; sleep 0.05; done
  done
  for c in $($C containers ls -q 2>/dev/null); do $C containers delete "$c" >/dev/null 2>&1; done
fi
# Shims outlive containerd: stop them by their recorded pids.
for f in "$P"/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
  [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
done
if [ -f "$P/containerd.pid" ]; then
  pid=$(cat "$P/containerd.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$P/containerd.pid"
fi
# Mounts under the directory (rootfs overlays, sandbox shm, netns binds), deepest first.
awk -v p="$P" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
# The pods' cgroups (cgroup parent /tsix-cri, see builder/cri), and containerd's default parent.
for base in /sys/fs/cgroup /sys/fs/cgroup/*; do
  for d in "$base/tsix-cri" "$base/k8s.io"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
done
rm -f /var/lib/cni/results/tsix-build-null-* 2>/dev/null
for id in $ids; do rm -f /var/lib/cni/results/*-"$id"-* 2>/dev/null; done
if awk -v p="$P" '$5 == p || index($5, p "/") == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
  echo "cri-down: mounts remain under $P; not removing it" >&2; exit 1
fi
rm -rf "$P"
echo "cri-down: done"
