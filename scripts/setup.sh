#!/usr/bin/env bash
# Sets up a fresh Debian or Ubuntu machine to run the tests, then installs the npm dependencies:
#
#   bash scripts/setup.sh && npm test          # the unit tests
#   bash scripts/setup.sh --e2e                # also what `npm run test:e2e` needs (root only)
#
# Installs only what is absent: Node.js 20+ (when apt offers it), the programs the unit tests run
# (test/required-tools.tsv), and with --e2e Docker Engine, debootstrap and the cached test image
# (test/e2e/setup-docker.sh). Runs as root, or as a user with sudo (only apt-get runs under sudo).
# Idempotent: a second run installs nothing. Each failure is one line saying what to do.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" DEBIAN_FRONTEND=noninteractive

e2e=false
case "${1:-}" in
--e2e) e2e=true ;;
"") ;;
*)
  echo "usage: bash scripts/setup.sh [--e2e]" >&2
  exit 2
  ;;
esac

say() { echo "setup: $*"; }
# An executable of that name on PATH (bash's `command -v` also prints a non-executable file when it finds no other).
have() {
  local path
  path=$(command -v "$1" 2>/dev/null) && [[ -x $path ]]
}
die() {
  echo "setup: $*" >&2
  exit 1
}

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "installing packages needs root: run this as root, or install sudo"
  as_root=(sudo)
fi

missing=()
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  command -v apt-cache >/dev/null 2>&1 || die "Node.js 20 or newer is needed (found: ${node_major/#0/none}): install it, then run this again"
  candidate=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: \([0-9]*\).*/\1/p')
  ((${candidate:-0} >= 20)) ||
    die "Node.js 20 or newer is needed and apt offers ${candidate:-none}: install it from https://nodejs.org/en/download (or NodeSource), then run this again"
  missing+=(nodejs npm)
fi
while IFS=$'\t' read -r cmd pkg _; do
  [[ -z $cmd || $cmd == \#* ]] && continue
  have "$cmd" || missing+=("$pkg")
done <test/required-tools.tsv

if ((${#missing[@]} > 0)); then
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} with this system's package manager, then run this again"
  say "installing ${missing[*]}"
  # No package may start a system-wide service (nginx would listen on port 80): the tests start their own.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy" &&
      trap '"${as_root[@]}" rm -f "$policy"' EXIT
  fi
  apt=("${as_root[@]}" apt-get -y -q -o DPkg::Lock::Timeout=300)
  "${apt[@]}" update >/dev/null || die "apt-get update failed (see its output above)"
  "${apt[@]}" install --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
else
  say "Node.js $(node --version) and the test tools are present"
fi

if $e2e; then
  [[ $(id -u) -eq 0 ]] || die "--e2e needs root (network namespaces and Docker daemons for the simulated hosts): run it as root"
  bash test/e2e/setup-docker.sh
fi

npm ci --no-audit --no-fund
say "ready: npm test$($e2e && echo ", npm run test:e2e")"
