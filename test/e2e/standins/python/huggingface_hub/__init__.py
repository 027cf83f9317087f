"""STAND-IN `huggingface_hub` for the rocm-vllm end-to-end test. This is NOT the Hugging Face client.

`snapshot_download` "downloads" a repository into the cache layout the real client uses
(`$HF_HOME/hub/models--<org>--<name>/snapshots/<revision>/`), so the plan's weight pre-download job, its volume mount
and the serving containers' `HF_HUB_OFFLINE=1` are exercised for real. Every repository looks like a Llama 3.x or
gpt-oss one (`REPO_FILES`: top-level safetensors and config, consolidated checkpoints under `original/`, Metal weights
under `metal/`); `HfApi().list_repo_files` lists them and `snapshot_download` writes only the files its
`allow_patterns`/`ignore_patterns` select, with the real client's fnmatch rules. Gated repositories (meta-llama/*) need
HF_TOKEN like on the Hub; a digest of the token is stored beside the files so the test can check the secret arrived
intact without the token ever being written anywhere.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os

__version__ = "0.35.0+rocm-vllm-standin"

GATED_ORGS = ("meta-llama/",)


# Files of every stand-in repository, with their sizes in bytes.
REPO_FILES = {
    "config.json": 0,
    "generation_config.json": 64,
    "tokenizer.json": 256,
    "tokenizer_config.json": 64,
    "model.safetensors.index.json": 128,
    "model-00001-of-00002.safetensors": 4096,
    "model-00002-of-00002.safetensors": 4096,
    "original/params.json": 64,
    "original/consolidated.00.pth": 16384,
    "metal/model.bin": 16384,
}


class GatedRepoError(Exception):
    pass


def _check_access(repo_id: str) -> None:
    if repo_id.startswith(GATED_ORGS) and not os.environ.get("HF_TOKEN"):
        raise GatedRepoError(
            f"401 Client Error. Cannot access gated repo for url https://huggingface.co/{repo_id}. "
            "Access to model is restricted. You must have access to it and be authenticated to access it."
        )


def _patterns(patterns: str | list[str] | None) -> list[str] | None:
    if patterns is None:
        return None
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    # Like huggingface_hub.utils.filter_repo_objects: "dir/" means everything under dir.
    return [p + "*" if p.endswith("/") else p for p in items]


def filter_repo_objects(items, allow_patterns=None, ignore_patterns=None):
    allow, ignore = _patterns(allow_patterns), _patterns(ignore_patterns)
    for item in items:
        if allow is not None and not any(fnmatch.fnmatch(item, p) for p in allow):
            continue
        if ignore is not None and any(fnmatch.fnmatch(item, p) for p in ignore):
            continue
        yield item


class HfApi:
    def list_repo_files(self, repo_id: str, revision: str | None = None, **_kwargs: object) -> list[str]:
        _check_access(repo_id)
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise OSError("Cannot reach https://huggingface.co/api/models: offline mode is enabled.")
        return sorted(REPO_FILES)


def hub_dir() -> str:
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.environ.get("HF_HUB_CACHE") or os.path.join(home, "hub")


def repo_dir(repo_id: str) -> str:
    return os.path.join(hub_dir(), "models--" + repo_id.replace("/", "--"))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def snapshot_download(
    repo_id: str,
    revision: str | None = None,
    allow_patterns: str | list[str] | None = None,
    ignore_patterns: str | list[str] | None = None,
    **_kwargs: object,
) -> str:
    token = os.environ.get("HF_TOKEN")
    _check_access(repo_id)
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not os.path.isdir(repo_dir(repo_id)):
        raise OSError(f"Cannot find {repo_id} in the local cache and outgoing traffic has been disabled.")
    snapshot = os.path.join(repo_dir(repo_id), "snapshots", revision or "main")
    os.makedirs(snapshot, exist_ok=True)
    for name in filter_repo_objects(sorted(REPO_FILES), allow_patterns, ignore_patterns):
        path = os.path.join(snapshot, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            if name == "config.json":
                json.dump({"_name_or_path": repo_id, "rocm_vllm_standin": True}, f)
            else:
                f.write("x" * REPO_FILES[name])
    if token:
        with open(os.path.join(snapshot, ".standin-token-sha256"), "w", encoding="ascii") as f:
            f.write(token_digest(token))
    return snapshot
