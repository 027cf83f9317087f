/**
 * Regenerates `planner/catalog/vllm-serve-flags.generated.json` from the two vLLM oracles in the shared reference
 * folder (beside the repository, or `ROCM_VLLM_REFERENCE_DIR`):
 *
 *   npx tsx scripts/generate-vllm-catalog.ts
 *
 * `test/planner/vllmVersions.test.ts` fails when the committed file differs from what this writes.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildCatalog, NEWER_ORACLE_FILE, OLD_ORACLE_FILE, readOracle } from "./vllmOracles";

export const CATALOG_PATH = join(__dirname, "..", "planner", "catalog", "vllm-serve-flags.generated.json");

/** The file's text: one space of indentation, as the catalog has always been written. */
export function catalogText(): string {
  return `${JSON.stringify(buildCatalog(readOracle(OLD_ORACLE_FILE), readOracle(NEWER_ORACLE_FILE)), null, 1)}\n`;
}

if (require.main === module) {
  writeFileSync(CATALOG_PATH, catalogText());
  console.log(`wrote ${CATALOG_PATH}`);
}
