/**
 * When the CLI colours its output: on a terminal only (or when FORCE_COLOR asks), never with NO_COLOR or the
 * `--no-color` option (`flag: false`), which wins over FORCE_COLOR. picocolors' own default also colours whenever CI
 * is set, so the same command piped to a file or a PR comment printed different bytes on a CI runner than on a laptop.
 */
export function colorEnabled(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  flag: boolean | undefined = undefined,
): boolean {
  if (flag === false || env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" && env.FORCE_COLOR !== "false") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}
