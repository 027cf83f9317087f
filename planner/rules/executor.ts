/**
 * How an engine spanning nodes (tensor × pipeline beyond one node) runs: on a Ray cluster, or on vLLM's native
 * multi-node mode (`--nnodes/--node-rank/--master-addr/--master-port`, `--headless` on the other nodes; vllm#23691,
 * documented from v0.13.0 in vLLM's docs/serving/parallelism_scaling.md "Running vLLM with MultiProcessing").
 *
 * `auto` follows the release: Ray where its image ships Ray and Ray across nodes works there (the guide's recipe);
 * native where the image has no Ray (official images from 0.18.0, vllm#36170) or Ray across nodes is broken (0.11.1,
 * vllm#28997). Native is possible wherever the release's `vllm serve` has `--nnodes`.
 */
import { VLLM_VERSIONS, type VllmVersionSpec } from "../catalog/vllmVersions";
import type { ClusterConfig, DeploymentConfig } from "../config/schema";
import { cite, fact, guide } from "../sources";
import type { Decisions } from "./decisions";
import type { Shape } from "./parallelism";

/** The first release with vLLM's own multi-node mode (`--nnodes`), read from the version table. */
const FIRST_NATIVE_RELEASE = VLLM_VERSIONS.find((s) => s.serveFlags.has("--nnodes"))?.version ?? "(none known)";

/** Executor of an engine spanning nodes. */
export type MultiNodeExecutor = "ray" | "native";

const NATIVE_SOURCE = cite(
  fact("native-multi-node"),
  "vllm#23691 (--nnodes, --node-rank, --master-addr, --master-port)",
);
const RAY_SOURCE = guide("Multi-node checklist and troubleshooting", "item 1");
const NO_RAY_IMAGES = "official vLLM images ship without Ray from 0.18.0, vllm#36170";
const EXECUTOR = ".parallelism.executor";

/** Whether the release's `vllm serve` has the native multi-node flags. */
export const hasNativeMultiNode = (version: VllmVersionSpec) => version.serveFlags.has("--nnodes");

/**
 * The executor of an engine spanning nodes, or `undefined` when the deployment has none (its engines fit on a node;
 * data-parallel ranks always run on vLLM's own processes) or when the choice is refused.
 */
export function chooseExecutor(
  out: Decisions,
  d: DeploymentConfig,
  shape: Shape,
  version: VllmVersionSpec,
  cluster: ClusterConfig,
): MultiNodeExecutor | undefined {
  const wanted = d.parallelism.executor;
  if (!shape.spansNodes || shape.data > 1) {
    if (wanted !== "auto") {
      out.warn(
        "executor-unused",
        `executor: ${wanted} applies only to tensor × pipeline spanning nodes; here every engine fits on one node${shape.data > 1 ? " and data-parallel ranks run on vLLM's own processes" : ""}`,
        EXECUTOR,
      );
    }
    return undefined;
  }
  const v = version.version;
  const hasRay = cluster.imageHasRay ?? version.rayInOfficialImage;
  const noRay =
    cluster.imageHasRay === false
      ? "the image has no Ray (cluster.imageHasRay: false)"
      : `vLLM ${v} images have no Ray (${NO_RAY_IMAGES})`;
  const broken = version.rayAcrossNodesBroken;
  const native = hasNativeMultiNode(version);
  const rayWorks = hasRay && !broken;

  if (wanted === "ray" || (wanted === "auto" && rayWorks)) {
    if (!hasRay) {
      out.refuse(
        EXECUTOR,
        "ray",
        noRay,
        native
          ? "use executor: native (or auto), or an image with Ray and cluster.imageHasRay: true"
          : "use an image with Ray and set cluster.imageHasRay: true",
      );
      return undefined;
    }
    if (broken) {
      out.refuse(
        EXECUTOR,
        "ray",
        `${broken.message} (${broken.source})`,
        native
          ? "use executor: native (or auto), or an image of a release with the fix"
          : "use an image of a release with the fix",
      );
      return undefined;
    }
    out.note(
      wanted === "auto" ? `executor auto → ray: vLLM ${v}'s images ship Ray` : "executor ray",
      "chooseExecutor",
      RAY_SOURCE,
    );
    return "ray";
  }
  if (!native) {
    const why = wanted === "native" ? "" : `${hasRay ? `${broken?.message} (${broken?.source})` : noRay}, and `;
    const first = FIRST_NATIVE_RELEASE;
    out.refuse(
      wanted === "native" ? EXECUTOR : ".parallelism",
      wanted === "native" ? "native" : { tensor: shape.tensor, pipeline: shape.pipeline },
      `${why}vLLM ${v} has no native multi-node mode (--nnodes arrived in ${first} with vllm#23691)`,
      rayWorks
        ? `use executor: ray (or auto), or an image with vLLM ${first} or later`
        : `use an image with vLLM ${first} or later, or one with Ray (cluster.imageHasRay: true), or fit tensor × pipeline on one node`,
    );
    return undefined;
  }
  out.note(
    wanted === "native"
      ? "executor native"
      : `executor auto → native: ${hasRay ? `Ray across nodes is broken in vLLM ${v} (${broken?.source})` : noRay}`,
    "chooseExecutor",
    NATIVE_SOURCE,
  );
  out.note(
    "every node runs vllm serve with --nnodes, node 0's --master-addr and --master-port: node 0 serves the API and holds the torch.distributed store, the others are --headless ranks; RCCL, Gloo and vLLM's message queues use ephemeral ports between the nodes (host networking)",
    "chooseExecutor",
    NATIVE_SOURCE,
  );
  return "native";
}
