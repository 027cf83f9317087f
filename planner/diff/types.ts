/**
 * The contract of `rocm-vllm diff`: what changes between two versions of a stack config, and what that does to the
 * running cluster. Produced by `planDiff` (pure), printed by `cli/diff.ts` as text or JSON.
 */
import type { StackConfig } from "../config/schema";
import type { Plan } from "../types";

/** A value as it appears in `--json`; `null` means "not set". */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Secrets of a stack file, as fingerprints of their ciphertext: compared, never printed. */
export type SecretFingerprints = Partial<Record<SecretKey, string>>;

/** Config keys that hold secrets (`pulumi config set --secret`). */
export type SecretKey = "hfToken" | "registryPassword" | "apiKey";

/** Every secret config key, in the order changes are listed. */
export const SECRET_KEYS: readonly SecretKey[] = ["hfToken", "registryPassword", "apiKey"];

/** The secret config key whose value a container's secret variable carries. */
export const SECRET_OF_ENV: ReadonlyMap<string, SecretKey> = new Map([
  ["HF_TOKEN", "hfToken"],
  ["VLLM_API_KEY", "apiKey"],
]);

/** One version of a stack: its validated config, its plan and its secrets' fingerprints. */
export interface StackSide {
  config: StackConfig;
  plan: Plan;
  secrets: SecretFingerprints;
}

/** One changed setting: a config key (`rocm-vllm:deployments[0].maxNumSeqs`) or a planned value (`llama70b argv`). */
export interface Change {
  path: string;
  before: JsonValue;
  after: JsonValue;
}

/**
 * What happens to one deployment on one node (`llama70b@node-a`) or to one node (`node-a`) when the change is applied
 * with `pulumi up`. Vocabulary shared with README.md § "Reviewing changes: rocm-vllm diff".
 */
export type ImpactAction =
  | "no change"
  | "in place"
  | "restart serving process"
  | "re-form the Ray cluster"
  | "re-form the native multi-node group"
  | "re-form the data-parallel group"
  | "start serving process"
  | "stop serving process"
  | "deployment added"
  | "deployment removed"
  | "restart load balancer"
  | "start load balancer"
  | "stop load balancer"
  | "run weights download"
  | "re-run weights download"
  | "drop weights download"
  | "run benchmark"
  | "re-run benchmark"
  | "drop benchmark"
  | "node added"
  | "node removed"
  | "pull image"
  | "re-pull image"
  | "release image"
  | "run preflight checks"
  | "re-run preflight checks"
  | "drop preflight checks";

export interface Impact {
  /** `<deployment>@<node>` or `<node>`. */
  target: string;
  action: ImpactAction;
  /** Why, in words: which part of the plan changed. */
  reason: string;
  /** Docker names of the containers this action starts, stops or replaces (empty when none). */
  containers: string[];
}

/** The diff of one stack file. */
export interface StackDiff {
  changes: Change[];
  impact: Impact[];
  /** Changes that cannot be applied in one `pulumi up` (GPUs or ports handed to a container of another identity). */
  hazards: string[];
  /** One line: what restarts, per deployment, and how many image pulls. */
  summary: string;
  /** True when anything differs: a setting, the plan, or an action on the cluster. */
  changed: boolean;
}
