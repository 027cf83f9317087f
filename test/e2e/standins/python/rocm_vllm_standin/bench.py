"""STAND-IN `vllm bench serve` for the rocm-vllm end-to-end test. This is NOT vLLM's benchmark.

Sends `--num-prompts` real completion requests to `--base-url` with `--max-concurrency` in flight, and writes the
result JSON with the keys `vllm bench serve --save-result` writes (throughput, TTFT/ITL percentiles), so the plan's
benchmark job and its parsing run end to end. Like vLLM's, every request carries `Authorization: Bearer
$OPENAI_API_KEY` (vllm v0.11.0 vllm/benchmarks/lib/endpoint_request_func.py).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request

VALUE_OPTIONS = {
    "--backend", "--base-url", "--host", "--port", "--endpoint", "--model", "--served-model-name", "--tokenizer",
    "--dataset-name", "--dataset-path", "--random-input-len", "--random-output-len", "--random-range-ratio",
    "--num-prompts", "--max-concurrency", "--request-rate", "--percentile-metrics", "--metric-percentiles",
    "--result-dir", "--result-filename", "--seed", "--burstiness", "--label",
}
FLAG_OPTIONS = {"--ignore-eos", "--save-result", "--trust-remote-code", "--disable-tqdm", "--save-detailed"}


def fail(msg: str) -> None:
    print(f"vllm bench serve: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse(args: list[str]) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        if name in FLAG_OPTIONS and not eq:
            out[name] = True
        elif name in VALUE_OPTIONS:
            if not eq:
                i += 1
                if i >= len(args):
                    fail(f"argument {name}: expected one argument")
                value = args[i]
            out[name] = value
        else:
            fail(f"unrecognized arguments: {args[i]}")
        i += 1
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(args: list[str]) -> None:
    opts = parse(args)
    base = str(opts.get("--base-url") or f"http://{opts.get('--host', '127.0.0.1')}:{opts.get('--port', '8000')}")
    model = str(opts.get("--served-model-name") or opts.get("--model") or "")
    prompts = int(str(opts.get("--num-prompts", "10")))
    concurrency = max(1, int(str(opts.get("--max-concurrency", "1"))))
    output_len = int(str(opts.get("--random-output-len", "16")))
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    todo = list(range(prompts))

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            body = json.dumps({"model": model, "prompt": "x", "max_tokens": output_len}).encode()
            req = urllib.request.Request(f"{base}/v1/completions", data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY')}"})
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    json.loads(resp.read())
                with lock:
                    latencies.append((time.monotonic() - t0) * 1000)
            except Exception as e:  # noqa: BLE001 - every failure counts as a failed request
                with lock:
                    errors.append(str(e))

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(min(concurrency, prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = max(time.monotonic() - start, 1e-6)
    print(f"stand-in benchmark: {len(latencies)} ok, {len(errors)} failed against {base}", file=sys.stderr, flush=True)
    if errors:
        fail(f"{len(errors)} requests failed, first: {errors[0]}")
    result: dict[str, object] = {
        "backend": opts.get("--backend", "vllm"), "model_id": model, "num_prompts": prompts,
        "completed": len(latencies), "duration": duration,
        "request_throughput": len(latencies) / duration,
        "output_throughput": len(latencies) * output_len / duration,
    }
    for metric in ("ttft", "tpot", "itl"):
        values = latencies if metric == "ttft" else [v / max(output_len, 1) for v in latencies]
        result[f"mean_{metric}_ms"] = sum(values) / len(values) if values else 0.0
        for p in (50, 90, 99):
            result[f"p{p}_{metric}_ms"] = percentile(values, p)
    if opts.get("--save-result"):
        directory = str(opts.get("--result-dir") or ".")
        os.makedirs(directory, exist_ok=True)
        name = str(opts.get("--result-filename") or "result.json")
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(result, f)
