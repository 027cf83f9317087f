"""STAND-IN for vLLM's native multi-node rendezvous (`vllm serve --nnodes N --node-rank K --master-addr A
--master-port P [--headless]`), used only by the rocm-vllm end-to-end test. This is NOT vLLM or torch.

What it imitates, and where the real behaviour lives (vLLM v0.11.1 … v0.25.1, PR vllm#23691; torch.distributed):

- Rendezvous at the master address. With nnodes > 1 vLLM initialises torch.distributed with
  `init_method=tcp://<master_addr>:<master_port>` (vllm/distributed/parallel_state.py, init_distributed_environment;
  vllm/v1/executor/multiproc_executor.py). torch's TCP store is served by global rank 0, i.e. by the process with
  `--node-rank 0`, on `--master-port` (all interfaces); every rank, rank 0 included, connects to it as a client at
  `--master-addr`. Here: node rank 0 serves a small TCP store, and every node (itself too) joins it over TCP.
- Global ranks: local_world_size = world_size / nnodes and global rank = node_rank × local_world_size + local_rank
  (vllm/config/parallel.py); world_size % nnodes must be 0 and node_rank < nnodes (vllm/engine/arg_utils.py).
- Rank 0 waits for every rank, and serves only when the world is complete: torch's store barrier blocks until all
  world_size clients have joined, and the API server starts only once the engine core (rank 0's executor) is up.
  On timeout torch raises `DistStoreError: Timed out after <t> seconds waiting for clients. <n>/<world> clients
  joined.`; the stand-in logs that line, then names the node ranks that never joined.
- Headless ranks retry until rank 0 answers: torch's store client keeps reconnecting (logging "The client socket has
  failed to connect to [<addr>]:<port> (errno: 111 - Connection refused)") until the timeout. `--headless` nodes log
  "Launching vLLM (v<ver>) headless multiproc executor, with head node address <addr>:<port> for torch.distributed
  process group." (vllm/entrypoints/cli/serve.py, run_headless) and never serve HTTP.
- Timeouts: the process group timeout is `--distributed-timeout-seconds` where the release has the flag (v0.18.0+),
  else torch's default of 30 minutes; rank 0's API server also gives up after VLLM_ENGINE_READY_TIMEOUT_S where the
  release reads it (v0.14.0+, default 600 s). ROCM_VLLM_STANDIN_DIST_TIMEOUT_S overrides both, for the test only.
- Once the world is complete the ranks are one engine: when any node goes away the others fail (collectives and
  vLLM's shared message queues break), so every process of the group exits and restarts together.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

TORCH_DEFAULT_TIMEOUT_S = 1800.0
ENGINE_READY_DEFAULT_S = 600.0
RETRY_LOG_EVERY_S = 5.0


@dataclass
class World:
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int
    world_size: int
    model: str
    host_ip: str | None
    local_gpus: int

    @property
    def local_world_size(self) -> int:
        return self.world_size // self.nnodes

    def ranks_of(self, node_rank: int) -> str:
        first = node_rank * self.local_world_size
        return f"{first}-{first + self.local_world_size - 1}"


def timeout_seconds(flag: str | None, env_vars: set[str], rank0: bool) -> float:
    """The group timeout as the real release computes it (see the module comment)."""
    override = os.environ.get("ROCM_VLLM_STANDIN_DIST_TIMEOUT_S")
    if override:
        return float(override)
    timeout = float(flag) if flag else TORCH_DEFAULT_TIMEOUT_S
    if rank0 and "VLLM_ENGINE_READY_TIMEOUT_S" in env_vars:
        timeout = min(timeout, float(os.environ.get("VLLM_ENGINE_READY_TIMEOUT_S", ENGINE_READY_DEFAULT_S)))
    return timeout


@dataclass
class _Store:
    """Rank 0's TCP store: who joined, and the barrier that releases everyone once the world is complete."""

    world: World
    log: Callable[[str, str], None]
    lock: threading.Lock = field(default_factory=threading.Lock)
    joined: dict[int, socket.socket] = field(default_factory=dict)
    complete: threading.Event = field(default_factory=threading.Event)

    def handle(self, conn: socket.socket, peer: str) -> None:
        try:
            hello = json.loads(conn.makefile("r").readline() or "{}")
        except (OSError, json.JSONDecodeError):
            conn.close()
            return
        w = self.world
        error = None
        k = hello.get("node_rank")
        if hello.get("nnodes") != w.nnodes or hello.get("world_size") != w.world_size:
            error = (f"node rank {k} from {peer} has --nnodes {hello.get('nnodes')} and world size "
                     f"{hello.get('world_size')}, node rank 0 has --nnodes {w.nnodes} and world size {w.world_size}")
        elif hello.get("model") != w.model:
            error = f"node rank {k} from {peer} serves {hello.get('model')}, node rank 0 serves {w.model}"
        elif not isinstance(k, int) or not 0 <= k < w.nnodes:
            error = f"node rank {k} from {peer} is not in 0..{w.nnodes - 1}"
        with self.lock:
            if error is None and k in self.joined:
                error = f"node rank {k} joined twice (again from {peer})"
            if error is not None:
                self.log("ERROR", f"torch.distributed rendezvous: {error}")
                conn.sendall((json.dumps({"error": error}) + "\n").encode())
                conn.close()
                return
            self.joined[k] = conn
            self.log("INFO", f"node rank {k} (ranks {w.ranks_of(k)}) joined from {peer} "
                             f"(VLLM_HOST_IP={hello.get('host')}, {hello.get('gpus')} GPUs)")
            if len(self.joined) == w.nnodes:
                self.complete.set()

    def release(self) -> None:
        with self.lock:
            for conn in self.joined.values():
                conn.sendall(b'{"go": true}\n')

    def missing(self) -> list[int]:
        with self.lock:
            return [k for k in range(self.world.nnodes) if k not in self.joined]


def _serve_store(world: World, log: Callable[[str, str], None], die: Callable[[str], None]) -> _Store:
    store = _Store(world, log)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("0.0.0.0", world.master_port))
    except OSError as e:
        die(f"torch.distributed.DistNetworkError: The server socket has failed to listen on any local network "
            f"address. port: {world.master_port}, useIpv6: 0, code: -{e.errno}, name: {e.strerror}")
    server.listen(64)

    def accept() -> None:
        while True:
            conn, peer = server.accept()
            threading.Thread(target=store.handle, args=(conn, peer[0]), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return store


def _join(world: World, deadline: float, log: Callable[[str, str], None], die: Callable[[str], None]) -> socket.socket:
    """Connects to the store at the master address, retrying like torch's store client until the deadline."""
    last_log = 0.0
    while True:
        try:
            conn = socket.create_connection((world.master_addr, world.master_port), timeout=3)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                die(f"torch.distributed.DistNetworkError: failed to connect to {world.master_addr}:{world.master_port} "
                    f"before the timeout: {e}")
            if time.monotonic() - last_log >= RETRY_LOG_EVERY_S:
                last_log = time.monotonic()
                log("WARNING", f"[W socket.cpp] The client socket has failed to connect to "
                               f"[{world.master_addr}]:{world.master_port} (errno: {e.errno} - {e.strerror}).")
            time.sleep(1)
    hello = {"node_rank": world.node_rank, "nnodes": world.nnodes, "world_size": world.world_size,
             "model": world.model, "host": world.host_ip, "gpus": world.local_gpus}
    conn.sendall((json.dumps(hello) + "\n").encode())
    return conn


def rendezvous(world: World, timeout: float, log: Callable[[str, str], None], die: Callable[[str], None]) -> socket.socket:
    """Runs this node's part of the rendezvous; returns the connection that ties it to the group."""
    deadline = time.monotonic() + timeout
    store = _serve_store(world, log, die) if world.node_rank == 0 else None
    if store:
        log("INFO", f"torch.distributed store on port {world.master_port}: waiting for {world.nnodes} node ranks "
                    f"(world size {world.world_size}, {world.local_world_size} ranks per node), timeout {timeout:g}s")
    conn = _join(world, deadline, log, die)
    if store:
        while not store.complete.wait(timeout=1.0):
            if time.monotonic() > deadline:
                missing = store.missing()
                joined = (world.nnodes - len(missing)) * world.local_world_size
                log("ERROR", f"torch.distributed.DistStoreError: Timed out after {timeout:g} seconds waiting for "
                             f"clients. {joined}/{world.world_size} clients joined.")
                die("; ".join(f"missing node rank {k} (ranks {world.ranks_of(k)}): no vllm serve --node-rank {k} "
                              f"reached {world.master_addr}:{world.master_port}" for k in missing))
        store.release()
    conn.settimeout(max(1.0, deadline - time.monotonic()))
    try:
        line = conn.makefile("r").readline()
    except OSError:
        line = ""
    reply = json.loads(line or "{}")
    if "error" in reply:
        die(f"torch.distributed rendezvous refused this node: {reply['error']}")
    if not reply.get("go"):
        die(f"torch.distributed.DistStoreError: Timed out after {timeout:g} seconds waiting for the world of "
            f"{world.world_size} ranks at {world.master_addr}:{world.master_port}")
    conn.settimeout(None)
    log("INFO", f"all {world.world_size} ranks of {world.nnodes} nodes joined at {world.master_addr}:{world.master_port}; "
                f"this node holds ranks {world.ranks_of(world.node_rank)}")
    if store:
        for k, peer in store.joined.items():
            if k != 0:
                threading.Thread(target=_watch, args=(peer, f"node rank {k}", die), daemon=True).start()
    return conn


def _watch(conn: socket.socket, who: str, die: Callable[[str], None]) -> None:
    """The group is one engine: when a member's connection ends, this process fails too."""
    try:
        conn.recv(1)
    except OSError:
        pass
    die(f"{who} left the engine; the collectives across nodes cannot continue")


def hold(conn: socket.socket, die: Callable[[str], None]) -> None:
    """A headless node lives as long as its connection to node rank 0."""
    _watch(conn, "node rank 0", die)
