/**
 * The programs the unit tests need besides Node (`test/required-tools.tsv`), and the unit suite's globalSetup: when
 * one is missing, `npm test` stops before any test with ONE line naming the missing programs and the command that
 * installs them, instead of dozens of `spawnSync … ENOENT` stack traces.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface RequiredTool {
  command: string;
  /** Debian/Ubuntu package that provides it. */
  pkg: string;
  why: string;
}

/** Directories searched besides PATH: nginx and dockerd live in sbin, which a non-root PATH often lacks. */
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

export function requiredTools(file = join(__dirname, "..", "required-tools.tsv")): RequiredTool[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const [command, pkg, why] = line.split("\t");
      return { command, pkg, why };
    });
}

/** The tools that cannot be found on `path` (plus the sbin directories). */
export function missingTools(tools: readonly RequiredTool[], path = process.env.PATH ?? ""): RequiredTool[] {
  const searchPath = [...path.split(":").filter((d) => d !== ""), ...SBIN].join(":");
  return tools.filter(
    (t) =>
      spawnSync("sh", ["-c", 'command -v "$1" >/dev/null', "sh", t.command], { env: { PATH: searchPath } }).status !==
      0,
  );
}

/** The one line `npm test` prints when tools are missing; `undefined` when none is. */
export function missingToolsLine(missing: readonly RequiredTool[], isRoot: boolean): string | undefined {
  if (missing.length === 0) return undefined;
  const names = missing.map((t) => `${t.command} (${t.why})`).join(", ");
  const install = `${isRoot ? "" : "sudo "}apt-get install -y ${missing.map((t) => t.pkg).join(" ")}`;
  const verb = missing.length === 1 ? "is" : "are";
  return `npm test: ${names} ${verb} not installed. Install with: ${install} (or run: bash scripts/setup.sh, which installs everything the tests need)`;
}

/** vitest globalSetup: stop the run with one line when a tool is missing. */
export default function checkRequiredTools(): void {
  const line = missingToolsLine(missingTools(requiredTools()), process.getuid?.() === 0);
  if (line === undefined) return;
  process.stderr.write(`${line}\n`);
  process.exit(1);
}
