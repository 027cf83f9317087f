/**
 * The shared reference folder (AMD's guide, the vLLM oracles) lives beside the repository: CI lays `shared/` next to
 * the clone. Tests that check data against it find it here; it is required, not optional.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

const CANDIDATES = [
  process.env.ROCM_VLLM_REFERENCE_DIR,
  join(__dirname, "..", "..", "..", "shared", "reference"),
  "/work/shared/reference",
].filter((d): d is string => d !== undefined);

/** Path of `file` in the reference folder; throws naming the places searched when it is absent. */
export function referenceFile(file: string): string {
  const dir = CANDIDATES.find((d) => existsSync(join(d, file)));
  if (!dir) throw new Error(`${file} not found in: ${CANDIDATES.join(", ")} (set ROCM_VLLM_REFERENCE_DIR)`);
  return join(dir, file);
}
