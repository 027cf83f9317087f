"""STAND-IN `ray` Python package for the rocm-vllm end-to-end test. This is NOT Ray.

Covers the membership queries launch scripts make (`ray.init(address="auto")`, `ray.nodes()`,
`ray.cluster_resources()`), answered by the stand-in head service over the network.
"""

from __future__ import annotations

from rocm_vllm_standin import cluster as _c

__version__ = "2.47.1+rocm-vllm-standin"

_address: str | None = None


def init(address: str | None = None, **_kwargs: object) -> dict:
    """Connects to a running cluster; fails like Ray when none is reachable."""
    global _address
    resolved = _c.resolve_address(address)
    _c.fetch_nodes(resolved)
    _address = resolved
    return {"address": resolved}


def is_initialized() -> bool:
    return _address is not None


def shutdown() -> None:
    global _address
    _address = None


def _need_address() -> str:
    if _address is None:
        raise RuntimeError("Ray has not been started yet. You can start Ray with 'ray.init()'.")
    return _address


def nodes() -> list[dict]:
    """Every node the head knows, alive or dead, with `Alive`, `NodeManagerAddress` and `Resources`."""
    return _c.fetch_nodes(_need_address())


def cluster_resources() -> dict[str, float]:
    totals: dict[str, float] = {}
    for node in nodes():
        if node["Alive"]:
            for key, value in node["Resources"].items():
                totals[key] = totals.get(key, 0.0) + value
    return totals


def available_resources() -> dict[str, float]:
    return cluster_resources()
