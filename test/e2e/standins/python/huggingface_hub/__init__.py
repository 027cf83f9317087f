"""STAND-IN `huggingface_hub` for the rocm-vllm end-to-end test. This is NOT the Hugging Face client.

`snapshot_download` "downloads" a repository into the cache layout the real client uses
(`$HF_HOME/hub/models--<org>--<name>/snapshots/<revision>/`), so the plan's weight pre-download job, its volume mount
and the serving containers' `HF_HUB_OFFLINE=1` are exercised for real. Gated repositories (meta-llama/*) need
HF_TOKEN like on the Hub; a digest of the token is stored beside the files so the test can check the secret arrived
intact without the token ever being written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os

__version__ = "0.35.0+rocm-vllm-standin"

GATED_ORGS = ("meta-llama/",)


class GatedRepoError(Exception):
    pass


def hub_dir() -> str:
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.environ.get("HF_HUB_CACHE") or os.path.join(home, "hub")


def repo_dir(repo_id: str) -> str:
    return os.path.join(hub_dir(), "models--" + repo_id.replace("/", "--"))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def snapshot_download(repo_id: str, revision: str | None = None, **_kwargs: object) -> str:
    token = os.environ.get("HF_TOKEN")
    if repo_id.startswith(GATED_ORGS) and not token:
        raise GatedRepoError(
            f"401 Client Error. Cannot access gated repo for url https://huggingface.co/{repo_id}. "
            "Access to model is restricted. You must have access to it and be authenticated to access it."
        )
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not os.path.isdir(repo_dir(repo_id)):
        raise OSError(f"Cannot find {repo_id} in the local cache and outgoing traffic has been disabled.")
    snapshot = os.path.join(repo_dir(repo_id), "snapshots", revision or "main")
    os.makedirs(snapshot, exist_ok=True)
    with open(os.path.join(snapshot, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"_name_or_path": repo_id, "rocm_vllm_standin": True}, f)
    if token:
        with open(os.path.join(snapshot, ".standin-token-sha256"), "w", encoding="ascii") as f:
            f.write(token_digest(token))
    return snapshot
