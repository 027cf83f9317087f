#!/usr/bin/env bash
# ROCM_VLLM_ON_NODE hook of the e2e test: `on-node.sh <node> <host>` runs `bash -s` (the script on stdin) on the
# simulated host whose address is <host>, as ssh would on a real node:
#   - inside that host's network namespace and a fresh /sys for it (`ip netns exec`), so 127.0.0.1, the host's
#     address and `--network host` containers are that host's;
#   - against that host's own Docker daemon (DOCKER_HOST);
#   - with a clean environment like an ssh session: nothing of the caller's environment (HF_TOKEN included) leaks in,
#     so secrets reach the node only the way deploy.sh sends them, on stdin;
#   - with the host's own HOME (job trigger stamps), and test/e2e/shim first on PATH (see shim/docker).
set -euo pipefail

node=$1
host=$2
state=${ROCM_VLLM_E2E_STATE:-/run/rocm-vllm-e2e}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for dir in "$state"/hosts/*/; do
  name=$(basename "$dir")
  if [[ -f "$dir/ip" && "$(cat "$dir/ip")" == "$host" ]]; then
    mkdir -p "$dir/home"
    real_docker=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v docker)
    exec ip netns exec "rvx-$name" env -i \
      PATH="$here/shim:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      HOME="$dir/home" \
      LANG=C.UTF-8 \
      DOCKER_HOST="unix://$dir/docker.sock" \
      ROCM_VLLM_E2E_REAL_DOCKER="$real_docker" \
      ROCM_VLLM_E2E_NODE="$node" \
      bash -s
  fi
done
echo "on-node: no simulated host has address $host (node $node)" >&2
exit 255
