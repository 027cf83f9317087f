#!/usr/bin/env bash
# Builds (once) the root file system of the e2e test image and prints the path of its tarball.
#
# No registry is reachable in CI, so the image cannot be pulled: it is a Debian bookworm `minbase` debootstrap from the
# apt mirror this machine is configured with, plus python3 (the stand-in ray/vllm), curl and iproute2 (what the
# plan's readiness and preflight scripts call), nginx-light (stand-in for the load balancer image) and the `render`
# group that ROCm images define. The tarball is cached under /var/cache/rocm-vllm-e2e, keyed by a hash of the recipe
# below, so only the first run on a machine pays for debootstrap (1.5-3 minutes, most of it downloads).
# The stand-ins are not part of it: the test adds them on top at each run, so editing them never invalidates the cache.
set -euo pipefail
# dockerd, ip and debootstrap live in sbin, which a non-login root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

cache_dir=${ROCM_VLLM_E2E_CACHE:-/var/cache/rocm-vllm-e2e}
suite=bookworm
packages=python3,curl,procps,iproute2,nginx-light

# The Debian mirror apt already uses (deb822 or one-line format); deb.debian.org when none is configured.
apt_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hsE "^deb[[:space:]]+[^[:space:]]+[[:space:]]+${suite}[[:space:]]" /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
      awk '{print $2}' | head -n1 || true)
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# Bump the last word when the steps below change in a way that changes the result.
recipe="$suite $packages render-gid-109 strip-docs v1"
key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
out="$cache_dir/rootfs-$suite-$key.tar"
mkdir -p "$cache_dir"

exec 9>"$cache_dir/.lock"
flock 9
if [[ -s "$out" ]]; then
  printf '%s\n' "$out"
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "build-rootfs: debootstrap is missing (run test/e2e/setup-docker.sh)" >&2
  exit 1
}

work=$(mktemp -d "$cache_dir/build.XXXXXX")
cleanup() {
  # debootstrap may leave proc/sys mounted inside the chroot when it fails.
  local m
  awk -v root="$work/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

mirror=$(apt_mirror)
echo "build-rootfs: debootstrap $suite from $mirror (first run only; cached as $out)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

root="$work/rootfs"
# ROCm images create `render` (GID 109 in rocm/dev-ubuntu) so `--group-add render` resolves inside the container.
grep -q '^render:' "$root/etc/group" || chroot "$root" groupadd -g 109 render
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
  "$root"/usr/share/locale/*
tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$root" -cf "$work/rootfs.tar" .
mv "$work/rootfs.tar" "$out"
# Older builds of this file are dead weight.
find "$cache_dir" -maxdepth 1 -name "rootfs-$suite-*.tar" ! -path "$out" -delete
printf '%s\n' "$out"
