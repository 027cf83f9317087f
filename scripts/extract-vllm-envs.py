#!/usr/bin/env python3
"""Writes planner/catalog/vllm-envs.generated.json from vLLM's own `vllm/envs.py` at each release tag.

Usage: extract-vllm-envs.py <git dir of a vLLM clone that carries the upstream release tags> <tag>...
(e.g. a snapshot of github.com/gonka-ai/vllm, whose tags equal upstream's). For every tag it lists the keys of
`environment_variables` (the variables that release reads) and, where the value parser can raise or ignore a value,
how it parses: `choices` (env_with_choices: ValueError outside the list), `int` (int(): ValueError on non-integers),
`int01` (bool(int()): ValueError on "true"), `word` (value.lower() in trueValues: anything else is false).
"""
import ast
import json
import subprocess
import sys

PARSERS = {"int": "int", "maybe_convert_int": "int", "maybe_convert_bool": "int01", "float": "float"}


def parse_kind(value: ast.expr, functions: dict[str, ast.FunctionDef]) -> dict | None:
    if isinstance(value, ast.Name) and value.id in functions:
        # A helper function instead of a lambda (e.g. disable_compile_cache): judge its last return.
        returns = [n for n in ast.walk(functions[value.id]) if isinstance(n, ast.Return) and n.value is not None]
        return parse_kind(ast.Lambda(args=None, body=returns[-1].value), functions) if returns else None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id.startswith("env_"):
        kind = {"env_with_choices": "choices", "env_list_with_choices": "choiceList", "env_set_with_choices": "choiceList"}
        out: dict = {"kind": kind.get(value.func.id, "choices")}
        choices = value.args[2] if len(value.args) > 2 else None
        for kw in value.keywords:
            if kw.arg == "choices":
                choices = kw.value
            if kw.arg == "case_sensitive" and isinstance(kw.value, ast.Constant):
                out["caseSensitive"] = bool(kw.value.value)
        out.setdefault("caseSensitive", True)
        if isinstance(choices, (ast.List, ast.Tuple)) and all(isinstance(c, ast.Constant) for c in choices.elts):
            out["choices"] = [c.value for c in choices.elts]
        else:
            out["choices"] = None  # computed at run time (e.g. attention backend names)
        return out
    if not isinstance(value, ast.Lambda):
        return None
    body = value.body
    if isinstance(body, ast.Call) and isinstance(body.func, ast.Name):
        name = body.func.id
        if name == "bool" and body.args and isinstance(body.args[0], ast.Call):
            inner = body.args[0].func
            if isinstance(inner, ast.Name) and inner.id == "int":
                return {"kind": "int01"}
        if name in PARSERS:
            return {"kind": PARSERS[name]}
    if isinstance(body, ast.Compare) and len(body.ops) == 1:
        left, right = body.left, body.comparators[0]
        if isinstance(left, ast.Call) and isinstance(left.func, ast.Attribute) and left.func.attr == "lower":
            if isinstance(body.ops[0], ast.In) and isinstance(right, (ast.Tuple, ast.List)):
                return {"kind": "word", "trueValues": [c.value for c in right.elts if isinstance(c, ast.Constant)]}
            if isinstance(body.ops[0], ast.Eq) and isinstance(right, ast.Constant):
                return {"kind": "word", "trueValues": [right.value]}
    return None


def extract(git_dir: str, tag: str) -> dict:
    src = subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{tag}:vllm/envs.py"], capture_output=True, text=True, check=True
    ).stdout
    tree = ast.parse(src)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    for node in ast.walk(tree):
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "environment_variables" and isinstance(node.value, ast.Dict):
            names, parsers = [], {}
            for key, value in zip(node.value.keys, node.value.values):
                if not isinstance(key, ast.Constant):
                    continue
                names.append(key.value)
                kind = parse_kind(value, functions)
                if kind:
                    parsers[key.value] = kind
            return {"names": sorted(names), "parsers": dict(sorted(parsers.items()))}
    raise SystemExit(f"{tag}: no environment_variables dict in vllm/envs.py")


def main() -> None:
    git_dir, tags = sys.argv[1], sys.argv[2:]
    # Oldest release in full, every later one as the difference to the release before it (tags oldest first).
    releases, prev = [], {"names": [], "parsers": {}}
    for tag in tags:
        cur = extract(git_dir, tag)
        releases.append(
            {
                "version": tag.removeprefix("v"),
                "added": [n for n in cur["names"] if n not in prev["names"]],
                "removed": [n for n in prev["names"] if n not in cur["names"]],
                "parsers": {n: p for n, p in cur["parsers"].items() if prev["parsers"].get(n) != p},
                "parsersRemoved": [n for n in prev["parsers"] if n in cur["names"] and n not in cur["parsers"]],
            }
        )
        prev = cur
    out = {
        "_source": "Generated by scripts/extract-vllm-envs.py from vllm/envs.py at each vLLM release tag (keys of "
        "environment_variables and their value parsers), oldest release in full, later ones as differences; "
        "test/planner/vllmVersions.test.ts checks it against shared/reference/vllm-cli-oracle*.json.",
        "releases": releases,
    }
    print(json.dumps(out, separators=(",", ":")).replace('{"version"', '\n{"version"'))


if __name__ == "__main__":
    main()
