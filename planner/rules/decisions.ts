/**
 * The accumulator every rule writes to: environment, `vllm serve` flags, explanations, warnings and refusals.
 *
 * A rule is a function that reads config and catalogs and records what it decided here, with its guide section.
 * Keeping the side effects in one place is what lets `plan` explain each value and lets tests remove a rule and see
 * exactly which values disappear.
 */
import { problem } from "../problems";
import type { Problem, Reason, Warning } from "../types";

export class Decisions {
  readonly env: Record<string, string> = {};
  /** `vllm serve` flags after the model, in the order rules add them. */
  readonly args: string[] = [];
  readonly reasons: Reason[] = [];
  readonly warnings: Warning[] = [];
  readonly problems: Problem[] = [];

  constructor(
    /** Config path of the deployment (or cluster) the rules are deciding for. */
    readonly path: string,
  ) {}

  setEnv(name: string, value: string, rule: string, source: string): void {
    this.env[name] = value;
    this.reasons.push({ what: `${name}=${value}`, rule, source });
  }

  /** Adds a flag with an optional value (a flag given twice is a bug in the rules, so it throws). */
  addArg(flag: string, value: string | undefined, rule: string, source: string): void {
    if (this.args.includes(flag)) throw new Error(`internal: ${rule} sets ${flag} twice`);
    this.args.push(flag);
    if (value !== undefined) this.args.push(value);
    this.reasons.push({ what: value === undefined ? flag : `${flag} ${value}`, rule, source });
  }

  hasArg(flag: string): boolean {
    return this.args.includes(flag);
  }

  note(what: string, rule: string, source: string): void {
    this.reasons.push({ what, rule, source });
  }

  warn(code: string, message: string, subpath = ""): void {
    this.warnings.push({ code, message, path: `${this.path}${subpath}` });
  }

  refuse(subpath: string, value: unknown, message: string, fix: string): void {
    this.problems.push(problem(`${this.path}${subpath}`, value, message, fix));
  }
}
