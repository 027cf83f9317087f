#!/usr/bin/env bash
# Prepares a machine for `npm run test:e2e` (Debian, root): installs what is missing and warms the image cache.
#
#   - docker.io (dockerd, containerd, runc): every simulated host runs its own daemon, started by the test itself
#     (test/e2e/sim-hosts.sh), so no system-wide dockerd is needed or touched;
#   - debootstrap: builds the test image's root file system, since no registry is reachable;
#   - iproute2, curl: network namespaces for the simulated hosts, and the readiness scripts the plan runs on a node;
#   - shellcheck: the unit tests check every exported script with it;
#   - openssh-server, openssh-client: every simulated host runs a real sshd, reached with ssh and ssh-agent (package
#     scripts may not start a system-wide sshd: a policy-rc.d refuses it; the test starts its own).
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
  [util-linux]=nsenter [openssh-server]=sshd [openssh-client]=ssh-agent)
missing=()
for pkg in docker.io debootstrap iproute2 curl shellcheck util-linux openssh-server openssh-client; do
  command -v "${provides[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "setup-docker: installing ${missing[*]}"
  apt=(apt-get -y -q -o DPkg::Lock::Timeout=300)
  "${apt[@]}" update
  # No package may start a service here (openssh-server would start a system-wide sshd).
  policy=/usr/sbin/policy-rc.d
  created_policy=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=true
  fi
  "${apt[@]}" install --no-install-recommends "${missing[@]}"
  if $created_policy; then rm -f "$policy"; fi
else
  echo "setup-docker: docker.io, debootstrap, iproute2, curl, shellcheck openssh already present"
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
