#!/usr/bin/env bash
# Prints, as a compact JSON array, the names of the stacks whose config
# (stacks/Pulumi.<name>.yaml) was added or modified between the merge base of
# <base-ref> and HEAD, e.g. ["mi300x-a","mi325x-lab"]. Deleted stacks are left out:
# there is no config left to preview. Used by .github/workflows/preview.yml.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 <base-ref>   (e.g. origin/main)" >&2
  exit 1
fi

# Three dots: diff against the merge base, so commits that landed on the base
# branch after the PR was opened do not show up as changes of this PR.
# --no-renames: a renamed stack is a new stack (the old name drops out as deleted).
changed=$(git diff --name-only --no-renames --diff-filter=d "$1...HEAD" -- stacks/)

names=()
while IFS= read -r path; do
  # Pulumi stack names are letters, digits, '-', '_' and '.'; anything else
  # would also be unsafe to splice into JSON by hand.
  if [[ $path =~ ^stacks/Pulumi\.([A-Za-z0-9_.-]+)\.yaml$ ]]; then
    names+=("${BASH_REMATCH[1]}")
  fi
done <<<"$changed"

json="["
sep=""
if ((${#names[@]} > 0)); then
  while IFS= read -r name; do
    json+="$sep\"$name\""
    sep=","
  done < <(printf '%s\n' "${names[@]}" | sort -u)
fi
echo "$json]"
