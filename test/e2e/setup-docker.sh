#!/usr/bin/env bash
# Prepares a machine for `npm run test:e2e` (Debian, root): installs what is missing and warms the image cache.
#
#   - docker.io (dockerd, containerd, runc): every simulated host runs its own daemon, started by the test itself
#     (test/e2e/sim-hosts.sh), so no system-wide dockerd is needed or touched;
#   - debootstrap: builds the test image's root file system, since no registry is reachable;
#   - iproute2, curl: network namespaces for the simulated hosts, and the readiness scripts the plan runs on a node;
#   - shellcheck: the unit tests check every exported script with it.
# Then it builds the cached root file system (test/e2e/build-rootfs.sh), so the test run itself starts fast.
# Idempotent: a second run installs nothing and finds the cache.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-docker: must run as root (network namespaces, mknod, dockerd)" >&2
  exit 1
fi

declare -A provides=([docker.io]=dockerd [debootstrap]=debootstrap [iproute2]=ip [curl]=curl [shellcheck]=shellcheck
  [util-linux]=nsenter)
missing=()
for pkg in docker.io debootstrap iproute2 curl shellcheck util-linux; do
  command -v "${provides[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "setup-docker: installing ${missing[*]}"
  apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
  "${apt[@]}" update
  "${apt[@]}" install --no-install-recommends "${missing[@]}"
else
  echo "setup-docker: docker.io, debootstrap, iproute2, curl, shellcheck already present"
fi

for cmd in dockerd containerd runc docker; do
  command -v "$cmd" >/dev/null || {
    echo "setup-docker: $cmd still missing after installing docker.io" >&2
    exit 1
  }
done

start=$SECONDS
rootfs=$("$here/build-rootfs.sh")
echo "setup-docker: test image root file system ready in $((SECONDS - start))s: $rootfs"
