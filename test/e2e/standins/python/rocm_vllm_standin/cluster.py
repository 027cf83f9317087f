"""STAND-IN for Ray, used only by the rocm-vllm end-to-end test. This is NOT Ray.

It implements the part of Ray that the plan's launch scripts and the stand-in vLLM touch, with real networking:
a head service on the GCS port that nodes register with over TCP and keep alive with heartbeats, and a membership
query (`ray.nodes()`, `ray status`). Nodes report the GPUs they can see: the `/dev/dri/renderD*` devices mapped into
the container, which is how the test checks that the plan's device mappings arrive unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_DIR = "/tmp/ray"
CURRENT_CLUSTER_FILE = os.path.join(STATE_DIR, "ray_current_cluster")
STANDIN_DIR = os.path.join(STATE_DIR, "standin")
HEARTBEAT_SECONDS = 1.0
# A node that has not sent a heartbeat for this long is reported dead (real Ray: health-check failures).
DEAD_AFTER_SECONDS = 6.0
# A worker whose head stops answering for this long exits (real raylet: GCS reconnect timeout).
HEAD_LOST_SECONDS = 10.0


def log(msg: str) -> None:
    print(f"[ray-standin] {msg}", flush=True)


def visible_gpu_count() -> int:
    """GPUs this container can use: render nodes mapped in, narrowed by the visibility variables if set."""
    try:
        renders = sorted(n for n in os.listdir("/dev/dri") if n.startswith("renderD"))
    except FileNotFoundError:
        renders = []
    if not os.path.exists("/dev/kfd"):
        return 0
    count = len(renders)
    for var in ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(var)
        if value is not None and value != "":
            ids = [i for i in value.split(",") if i.strip() != ""]
            count = min(count, len([i for i in ids if i.isdigit() and int(i) < len(renders)]))
    return count


def local_addresses() -> set[str]:
    """IPv4 addresses that can be bound in this network namespace (the container shares the host's with --network host)."""
    found = {"127.0.0.1"}
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if "/32 host LOCAL" in line and i > 0:
                found.add(lines[i - 1].split()[-1])
    except OSError:
        pass
    return found


def is_local_address(ip: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


def route_source_to(ip: str, port: int) -> str | None:
    """Source address the kernel would use to reach ip (a UDP connect sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((ip, port))
            return s.getsockname()[0]
    except OSError:
        return None


def default_node_ip() -> str:
    addrs = sorted(a for a in local_addresses() if not a.startswith("127."))
    return addrs[0] if addrs else "127.0.0.1"


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"invalid Ray address {address!r}: expected <ip>:<port>")
    return host.strip("[]"), int(port)


def write_current_cluster(address: str) -> None:
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(CURRENT_CLUSTER_FILE, "w", encoding="ascii") as f:
        f.write(address)


def read_current_cluster() -> str | None:
    try:
        with open(CURRENT_CLUSTER_FILE, encoding="ascii") as f:
            value = f.read().strip()
            return value or None
    except FileNotFoundError:
        return None


def resolve_address(address: str | None) -> str:
    """`auto`/None → RAY_ADDRESS, then the cluster this container started; otherwise the address itself."""
    if address in (None, "", "auto"):
        env = os.environ.get("RAY_ADDRESS")
        if env and env != "auto":
            return env
        current = read_current_cluster()
        if current:
            return current
        raise ConnectionError(
            "Could not find any running Ray instance. Please specify the one to connect to by setting `--address` "
            "flag or `RAY_ADDRESS` environment variable."
        )
    return address


# ---------------------------------------------------------------------------------------------------------------- head


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.nodes: dict[str, dict] = {}

    def register(self, node: dict) -> None:
        with self.lock:
            node = dict(node)
            node["last_seen"] = time.monotonic()
            self.nodes[node["node_id"]] = node
        log(f"node {node['node_id'][:12]} joined from {node['ip']} with {node['resources'].get('GPU', 0)} GPU")

    def heartbeat(self, node_id: str) -> bool:
        with self.lock:
            node = self.nodes.get(node_id)
            if node is None:
                return False
            node["last_seen"] = time.monotonic()
            return True

    def unregister(self, node_id: str) -> None:
        with self.lock:
            self.nodes.pop(node_id, None)

    def snapshot(self) -> list[dict]:
        now = time.monotonic()
        with self.lock:
            out = []
            for node in self.nodes.values():
                alive = now - node["last_seen"] < DEAD_AFTER_SECONDS
                out.append(
                    {
                        "NodeID": node["node_id"],
                        "Alive": alive,
                        "alive": alive,
                        "NodeManagerAddress": node["ip"],
                        "NodeManagerHostname": node["hostname"],
                        "NodeName": node["ip"],
                        "Resources": dict(node["resources"]) if alive else {},
                        "IsHead": node.get("head", False),
                        "Env": node.get("env", {}),
                    }
                )
            return out


def _handler(registry: _Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass

        def _reply(self, code: int, body: object) -> None:
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length", "0"))
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            if self.path == "/nodes":
                self._reply(200, registry.snapshot())
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/register":
                registry.register(body)
                self._reply(200, {"ok": True})
            elif self.path == "/heartbeat":
                self._reply(200 if registry.heartbeat(body["node_id"]) else 404, {})
            elif self.path == "/unregister":
                registry.unregister(body["node_id"])
                self._reply(200, {})
            else:
                self._reply(404, {"error": "not found"})

    return Handler


def serve_head(port: int, node: dict) -> ThreadingHTTPServer:
    """Starts the head service (the stand-in GCS) on all addresses, and registers the head's own node."""
    registry = _Registry()
    server = ThreadingHTTPServer(("0.0.0.0", port), _handler(registry))
    server.daemon_threads = True
    registry.register(node)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def beat() -> None:
        while True:
            registry.heartbeat(node["node_id"])
            time.sleep(HEARTBEAT_SECONDS)

    threading.Thread(target=beat, daemon=True).start()
    return server


# -------------------------------------------------------------------------------------------------------------- client


def _request(address: str, method: str, path: str, body: object | None = None, timeout: float = 3.0) -> tuple[int, object]:
    host, port = parse_address(address)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def fetch_nodes(address: str) -> list[dict]:
    try:
        status, body = _request(address, "GET", "/nodes")
    except (OSError, ValueError) as e:
        raise ConnectionError(f"Failed to connect to GCS at address {address}: {e}") from e
    if status != 200 or not isinstance(body, list):
        raise ConnectionError(f"GCS at {address} answered {status}")
    return body


def register(address: str, node: dict) -> None:
    status, _ = _request(address, "POST", "/register", node)
    if status != 200:
        raise ConnectionError(f"GCS at {address} refused registration ({status})")


def heartbeat(address: str, node_id: str) -> int:
    status, _ = _request(address, "POST", "/heartbeat", {"node_id": node_id}, timeout=2.0)
    return status


def unregister(address: str, node_id: str) -> None:
    try:
        _request(address, "POST", "/unregister", {"node_id": node_id}, timeout=2.0)
    except OSError:
        pass


def new_node(ip: str, num_gpus: float, num_cpus: float, head: bool, custom: dict | None = None) -> dict:
    resources = {"CPU": float(num_cpus), f"node:{ip}": 1.0, "memory": 64.0 * 2**30, "object_store_memory": 8.0 * 2**30}
    resources.update({k: float(v) for k, v in (custom or {}).items()})
    if num_gpus > 0:
        resources["GPU"] = float(num_gpus)
    if head:
        resources["node:__internal_head__"] = 1.0
    env = {k: os.environ[k] for k in ("VLLM_HOST_IP",) if k in os.environ}
    return {
        "node_id": uuid.uuid4().hex + uuid.uuid4().hex[:24],
        "ip": ip,
        "hostname": socket.gethostname(),
        "resources": resources,
        "head": head,
        "env": env,
    }
