#!/usr/bin/env bash
# Simulated GPU hosts for the rocm-vllm end-to-end test.
#
# Each host is a network namespace with its own address on a private bridge (10.77.0.0/24 by default; the bridge lives
# in a namespace of its own, so nothing is added to the machine's real network) and its own Docker daemon (own
# data-root, exec-root, pidfile and socket) started inside that namespace. Containers run with `--network host`
# therefore share the simulated host's address, exactly as on a real node. Each host also runs a real OpenSSH sshd
# on its address (own host key, key-only root login): sessions get that host's DOCKER_HOST, HOME and the e2e docker
# shim on PATH. The client side is under $state/client: a key (the test loads it into an ssh-agent), and
# known_hosts with every host's key (known_hosts.wrong has a wrong key for the last host; ssh reads ~/.ssh from the
# passwd entry, not $HOME, so the test stacks name these files in ssh.knownHostsFile). The client
# itself (the machine running `pulumi up` or deploy.sh) is the namespace rvx-client, on the same bridge at
# $ROCM_VLLM_E2E_CLIENT_IP (10.77.0.2), without a daemon of its own.
#
#   sim-hosts.sh up <name>=<ip> ...      create the switch, the hosts and their daemons
#   sim-hosts.sh devices <gpus>          create stand-in /dev/kfd, /dev/dri/renderD*, /dev/infiniband/* (if absent)
#   sim-hosts.sh load-image <tar> <tag>... import a root file system tarball as <tag> into every daemon
#   sim-hosts.sh agent                   start an ssh-agent on $state/client/agent.sock holding the client key
#   sim-hosts.sh clean                   remove every container on every simulated host
#   sim-hosts.sh restart-daemon <name>   stop a host's dockerd (its containers stop with it) and start it again
#   sim-hosts.sh socket <name>           print DOCKER_HOST for a host
#   sim-hosts.sh down                    stop everything this script started and delete what it created
#   sim-hosts.sh reap <pid> <run>        wait until process <pid> exits, then `down` if run <run> is still the one up
#
# Everything created is recorded under $ROCM_VLLM_E2E_STATE, so `down` removes exactly that (also after a crash).
set -euo pipefail
# dockerd, ip and debootstrap live in sbin, which a non-login root PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

state=${ROCM_VLLM_E2E_STATE:-/run/rocm-vllm-e2e}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=${ROCM_VLLM_E2E_DATA:-/var/lib/rocm-vllm-e2e}
prefix=rvx
switch_ns=$prefix-switch
prefix_len=${ROCM_VLLM_E2E_PREFIX_LEN:-24}

log() { printf 'sim-hosts: %s\n' "$*" >&2; }

docker_at() {
  local name=$1
  shift
  docker -H "unix://$state/hosts/$name/docker.sock" "$@"
}

hosts() {
  [[ -d "$state/hosts" ]] || return 0
  find "$state/hosts" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort
}

ensure_switch() {
  if [[ ! -e "/run/netns/$switch_ns" ]]; then
    ip netns add "$switch_ns"
    ip -n "$switch_ns" link add br0 type bridge
    ip -n "$switch_ns" link set br0 up
    ip -n "$switch_ns" link set lo up
  fi
}

# Namespace rvx-<name> with address <ip> on the switch's bridge (created once).
netns_up() {
  local name=$1 ip=$2 ns=$prefix-$1
  if [[ ! -e "/run/netns/$ns" ]]; then
    ip netns add "$ns"
    ip link add "$prefix-$name" netns "$switch_ns" type veth peer name eth0 netns "$ns"
    ip -n "$switch_ns" link set "$prefix-$name" master br0 up
    ip -n "$ns" addr add "$ip/$prefix_len" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  fi
}

host_up() {
  local name=$1 ip=$2 ns=$prefix-$1 dir=$state/hosts/$1
  [[ "$name" =~ ^[a-z0-9]{1,8}$ ]] || {
    log "host name '$name' must be 1-8 lower-case letters or digits"
    return 1
  }
  mkdir -p "$dir/exec" "$data/$name"
  printf '%s\n' "$ip" >"$dir/ip"
  netns_up "$name" "$ip"
  printf '{}\n' >"$dir/daemon.json"
  if [[ -s "$dir/dockerd.pid" ]] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
    return 0
  fi
  nsenter --net="/run/netns/$ns" setsid dockerd \
    --config-file "$dir/daemon.json" \
    --data-root "$data/$name" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" \
    --host "unix://$dir/docker.sock" \
    --bridge none --iptables=false --ip-masq=false --ip-forward=false --userland-proxy=false \
    --storage-driver overlay2 \
    --cgroup-parent "rocm-vllm-e2e-$name" \
    --log-level warn \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  printf '%s\n' "$!" >"$dir/dockerd.pid"
}

# The client key every simulated sshd accepts, generated once per run.
ensure_client() {
  mkdir -p "$state/client"
  chmod 700 "$state/client"
  if [[ ! -f "$state/client/id_ed25519" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C rocm-vllm-e2e -f "$state/client/id_ed25519"
  fi
  cp "$state/client/id_ed25519.pub" "$state/client/authorized_keys"
}

sshd_up() {
  local name=$1 ip=$2 dir=$state/hosts/$1 ns=$prefix-$1 real_docker
  mkdir -p "$dir/ssh" "$dir/home" /run/sshd
  if [[ ! -f "$dir/ssh/host_ed25519_key" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "rocm-vllm-e2e-$name" -f "$dir/ssh/host_ed25519_key"
  fi
  real_docker=$(command -v docker)
  {
    echo "ListenAddress $ip"
    echo "Port 22"
    echo "HostKey $dir/ssh/host_ed25519_key"
    echo "PidFile $dir/ssh/sshd.pid"
    echo "AuthorizedKeysFile $state/client/authorized_keys"
    echo "PermitRootLogin prohibit-password"
    echo "PubkeyAuthentication yes"
    echo "PasswordAuthentication no"
    echo "KbdInteractiveAuthentication no"
    echo "UsePAM no"
    echo "StrictModes no"
    echo "PrintMotd no"
    echo "MaxStartups 10:30:100"
    echo "ClientAliveInterval 15"
    echo "SetEnv DOCKER_HOST=unix://$dir/docker.sock ROCM_VLLM_E2E_REAL_DOCKER=$real_docker ROCM_VLLM_E2E_NODE=$name HOME=$dir/home PATH=$here/shim:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  } >"$dir/ssh/sshd_config"
  if [[ -s "$dir/ssh/sshd.pid" ]] && kill -0 "$(cat "$dir/ssh/sshd.pid")" 2>/dev/null; then
    return 0
  fi
  ip netns exec "$ns" /usr/sbin/sshd -f "$dir/ssh/sshd_config" -E "$dir/ssh/sshd.log"
}

# known_hosts of the client: every host's real key; and a copy whose last host has another (wrong) key.
write_known_hosts() {
  local name ip key wrong=$state/client/wrong_host_key last
  [[ -f "$wrong" ]] || ssh-keygen -q -t ed25519 -N '' -C wrong -f "$wrong"
  last=$(hosts | tail -n 1)
  : >"$state/client/known_hosts"
  : >"$state/client/known_hosts.wrong"
  for name in $(hosts); do
    ip=$(cat "$state/hosts/$name/ip")
    key=$(cut -d ' ' -f 1,2 "$state/hosts/$name/ssh/host_ed25519_key.pub")
    printf '%s %s\n' "$ip" "$key" >>"$state/client/known_hosts"
    if [[ "$name" == "$last" ]]; then
      key=$(cut -d ' ' -f 1,2 "$wrong.pub")
    fi
    printf '%s %s\n' "$ip" "$key" >>"$state/client/known_hosts.wrong"
  done
}

wait_sshd() {
  local name=$1 ip i
  ip=$(cat "$state/hosts/$name/ip")
  for i in $(seq 1 100); do
    if ip netns exec "$prefix-$name" bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "sshd for $name did not listen on $ip:22 within 10s"
  cat "$state/hosts/$name/ssh/sshd.log" >&2 || true
  return 1
}

wait_daemon() {
  local name=$1 i
  for i in $(seq 1 150); do
    if docker_at "$name" version >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$(cat "$state/hosts/$name/dockerd.pid")" 2>/dev/null; then
      log "dockerd for $name exited:"
      tail -n 20 "$state/hosts/$name/dockerd.log" >&2
      return 1
    fi
    [[ $i -eq 150 ]] || sleep 0.2
  done
  log "dockerd for $name did not answer within 30s"
  tail -n 20 "$state/hosts/$name/dockerd.log" >&2
  return 1
}

client_up() {
  netns_up client "${ROCM_VLLM_E2E_CLIENT_IP:-10.77.0.2}"
}

cmd_up() {
  mkdir -p "$state/hosts"
  printf '%s\n' "${ROCM_VLLM_E2E_RUN:-manual}" >"$state/run"
  ensure_switch
  client_up
  local spec
  for spec in "$@"; do
    host_up "${spec%%=*}" "${spec#*=}"
  done
  for spec in "$@"; do
    wait_daemon "${spec%%=*}"
  done
  ensure_client
  for spec in "$@"; do
    sshd_up "${spec%%=*}" "${spec#*=}"
  done
  for spec in "$@"; do
    wait_sshd "${spec%%=*}"
  done
  write_known_hosts
}

# Device nodes are created on the machine's /dev, which every simulated host shares; the majors are those of the real
# drivers (kfd's is dynamic: one no driver here registers). With no driver loaded, opening them fails with ENXIO.
make_node() {
  local path=$1 major=$2 minor=$3
  if [[ -e "$path" ]]; then
    return 0
  fi
  mknod -m 0666 "$path" c "$major" "$minor"
  printf '%s\n' "$path" >>"$state/devices.created"
}

make_dir() {
  if [[ ! -e "$1" ]]; then
    mkdir "$1"
    printf '%s\n' "$1" >>"$state/devices.created"
  fi
}

cmd_devices() {
  local gpus=${1:-8} i
  mkdir -p "$state"
  make_node /dev/kfd 238 0
  make_dir /dev/dri
  for ((i = 0; i < gpus; i++)); do
    make_node "/dev/dri/renderD$((128 + i))" 226 "$((128 + i))"
  done
  make_dir /dev/infiniband
  make_node /dev/infiniband/uverbs0 231 192
  make_node /dev/infiniband/rdma_cm 10 58
}

cmd_load_image() {
  local tar=$1 name tag
  shift
  for name in $(hosts); do
    docker_at "$name" import \
      --change 'WORKDIR /app' --change 'CMD ["/bin/bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "$tar" "$1" >/dev/null
    for tag in "${@:2}"; do
      docker_at "$name" tag "$1" "$tag"
    done
  done
}

cmd_agent() {
  local sock=$state/client/agent.sock
  if [[ -s "$state/client/agent.pid" ]] && kill -0 "$(cat "$state/client/agent.pid")" 2>/dev/null; then
    return 0
  fi
  rm -f "$sock"
  ssh-agent -a "$sock" -s | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' >"$state/client/agent.pid"
  SSH_AUTH_SOCK=$sock ssh-add -q "$state/client/id_ed25519"
}

cmd_clean() {
  local name ids
  for name in $(hosts); do
    ids=$(docker_at "$name" ps -aq 2>/dev/null || true)
    if [[ -n "$ids" ]]; then
      # shellcheck disable=SC2086 # one id per word
      docker_at "$name" rm -f $ids >/dev/null 2>&1 || true
    fi
  done
}

stop_pid() {
  local pid=$1 wait=${2:-10} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 $((wait * 5))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "pid $pid ignored SIGTERM for ${wait}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# A host's Docker daemon restarts, as after a package upgrade or a crash of dockerd: it stops every container (SIGTERM,
# then SIGKILL after their stop timeout), and starts again those whose restart policy says so.
cmd_restart_daemon() {
  local name=$1 dir=$state/hosts/$1
  [[ -s "$dir/dockerd.pid" ]] || {
    log "no Docker daemon recorded for host $name"
    return 1
  }
  stop_pid "$(cat "$dir/dockerd.pid")" 90
  host_up "$name" "$(cat "$dir/ip")"
  wait_daemon "$name"
}

unmount_under() {
  local root=$1 m
  awk -v root="$root/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

host_down() {
  local name=$1 dir=$state/hosts/$1 ns=$prefix-$1 pid
  if [[ -S "$dir/docker.sock" ]]; then
    cmd_clean_one "$name"
  fi
  if [[ -s "$dir/dockerd.pid" ]]; then
    stop_pid "$(cat "$dir/dockerd.pid")"
  fi
  # Whatever is still running in the namespace (containerd, shims, container processes) was started by this host.
  if [[ -e "/run/netns/$ns" ]]; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  fi
  unmount_under "$dir"
  unmount_under "$data/$name"
  rm -rf "$dir" "${data:?}/$name"
}

cmd_clean_one() {
  local ids
  ids=$(docker_at "$1" ps -aq 2>/dev/null || true)
  if [[ -n "$ids" ]]; then
    # shellcheck disable=SC2086 # one id per word
    timeout 20 docker -H "unix://$state/hosts/$1/docker.sock" rm -f $ids >/dev/null 2>&1 || true
  fi
}

cmd_down() {
  local name path pid pids=()
  # Hosts are independent: take them down at once (a daemon needs seconds to stop).
  for name in $(hosts); do
    host_down "$name" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || true
  done
  if [[ -e "/run/netns/$prefix-client" ]]; then
    for pid in $(ip netns pids "$prefix-client" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$prefix-client" 2>/dev/null || true
  fi
  if [[ -e "/run/netns/$switch_ns" ]]; then
    ip netns del "$switch_ns" 2>/dev/null || true
  fi
  if [[ -f "$state/devices.created" ]]; then
    # Reverse creation order: nodes before the directories that hold them.
    tac "$state/devices.created" | while read -r path; do
      if [[ -d "$path" ]]; then
        rmdir "$path" 2>/dev/null || true
      else
        rm -f "$path"
      fi
    done
    rm -f "$state/devices.created"
  fi
  # The test stacks' modelCache and compile caches: what the jobs and containers wrote.
  rm -rf "${data:?}/model-cache" "${data:?}/compile-cache"
  rm -f "$state/run"
  rm -rf "$state/exports" # scripts the test exported
  if [[ -s "$state/client/agent.pid" ]]; then
    stop_pid "$(cat "$state/client/agent.pid")"
  fi
  rm -rf "$state/client" # the client key, known_hosts and agent socket
  rmdir "$state/hosts" "$state" "$data" 2>/dev/null || true
}

# Cleans up after a test runner that was killed before its own teardown (CI's timeout sends SIGTERM, then SIGKILL).
cmd_reap() {
  local pid=$1 run=$2
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
  done
  if [[ -f "$state/run" && "$(cat "$state/run")" == "$run" ]]; then
    log "test runner $pid is gone without its teardown: removing run $run"
    cmd_down
  fi
}

case "${1:-}" in
up)
  shift
  cmd_up "$@"
  ;;
devices)
  shift
  cmd_devices "$@"
  ;;
load-image)
  shift
  cmd_load_image "$@"
  ;;
agent)
  cmd_agent
  ;;
clean)
  cmd_clean
  ;;
restart-daemon)
  cmd_restart_daemon "$2"
  ;;
socket)
  printf 'unix://%s\n' "$state/hosts/$2/docker.sock"
  ;;
down)
  cmd_down
  ;;
reap)
  cmd_reap "$2" "$3"
  ;;
*)
  log "usage: $0 up <name>=<ip>... | devices <gpus> | load-image <tar> <tag>... | agent | clean | restart-daemon <name> | socket <name> | down | reap <pid> <run>"
  exit 2
  ;;
esac
