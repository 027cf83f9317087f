/**
 * One exit-code scheme for every command, printed at the end of each command's `--help`.
 *
 * `diff` keeps terraform's `-detailed-exitcode` meaning of 2 ("changes"), so a usage error, which must never read as
 * "changes", has the conventional EX_USAGE code 64 instead.
 */
export const EXIT = {
  /** Success; `diff`: nothing changes. */
  ok: 0,
  /** Invalid stack config (one line per problem), or a file, git ref or output directory that cannot be used. */
  invalid: 1,
  /** `diff`: the plan changes, and one update applies it. */
  changed: 2,
  /** `diff`: the plan changes with a hazard (GPUs or ports handed between containers): apply it in two updates. */
  hazard: 3,
  /** Usage error: unknown option, missing argument, `-` without `--stack`. */
  usage: 64,
} as const;

/** The scheme as `--help` shows it. */
export const EXIT_CODES_HELP = `
Exit codes (the same for every rocm-vllm command):
  0   success; diff: nothing changes
  1   the stack config is invalid (one line per problem), or a file, git ref or --out directory cannot be used
  2   diff: the plan changes; one pulumi up (or deploy.sh) applies it
  3   diff: the plan changes with a hazard (GPUs or ports handed between containers): apply it in two updates
  64  usage error: unknown option, missing argument`;
