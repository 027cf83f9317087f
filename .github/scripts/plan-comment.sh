#!/usr/bin/env bash
# Writes the Markdown body of the pull-request comment that shows the domain diff,
# from the output and exit code of `rocm-vllm diff` (0 = no change, 2 = changes,
# 3 = changes with a hazard, anything else = error). The first line is the hidden marker by which
# upsert-pr-comment.cjs finds the comment again on the next push.
# Used by .github/workflows/plan.yml.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 <diff-output-file> <diff-exit-code> <base-ref>" >&2
  exit 1
fi
output_file=$1 code=$2 base=$3

# GitHub rejects comments over 65,536 characters; leave room for the frame.
limit=60000

echo "<!-- rocm-vllm:plan-diff -->"
echo "### rocm-vllm plan diff against \`$base\`"
echo
case $code in
0) echo "No stack's plan changes." ;;
2) echo "The plan changes for at least one stack:" ;;
3) echo "**The plan changes with a hazard: one update cannot apply it; split it in two (see the hazard lines).**" ;;
*) echo "**\`rocm-vllm diff\` failed with exit code $code.**" ;;
esac

if [[ -s $output_file ]]; then
  echo
  # A tilde fence, so backtick fences in the output cannot end the block early.
  echo "~~~text"
  head -c "$limit" "$output_file"
  # Close the block on its own line even when the output lacks a final newline.
  [[ -z $(tail -c 1 "$output_file") ]] || echo
  echo "~~~"
  if (($(wc -c <"$output_file") > limit)); then
    echo
    echo "_Output truncated to $limit bytes; the full diff is in the job log._"
  fi
fi

if [[ -n ${GITHUB_SHA:-} ]]; then
  echo
  echo "<sub>Commit ${GITHUB_SHA:0:12}, run ${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}</sub>"
fi
