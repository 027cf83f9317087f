/**
 * Citations a user can open. Every `source` of a plan reason, and every reference in a warning or error, is built
 * here: a section of AMD's guide with its public URL, or a section of `docs/facts.md` in this repository (which
 * names the upstream source of each fact: a PR, a source file at a release tag, or a vendor document).
 *
 * `test/citations.test.ts` checks that every guide section exists in the guide, every docs anchor exists in
 * `docs/facts.md`, and that no plan of the examples cites anything a user cannot open.
 */

/** AMD's "vLLM V1 performance optimization" guide. */
export const GUIDE_URL =
  "https://rocm.docs.amd.com/en/latest/how-to/rocm-for-ai/inference-optimization/vllm-optimization.html";

/** The guide's sections the rules cite: the short name we print, and the section heading as the guide writes it. */
export const GUIDE_SECTIONS = {
  "Performance environment variables": "Performance environment variables",
  "AITER switches": "AITER (AI Tensor Engine for ROCm) switches",
  "AITER MLA requirements": "AITER MLA requirements (DeepSeek-V3/R1 models)",
  "Attention backend selection with AITER": "Attention backend selection with AITER",
  "Attention backend technical details": "Attention backend technical details",
  "Backend choice quick recipes": "Backend choice quick recipes",
  "Quick Reduce": "Quick Reduce (large all-reduces on ROCm)",
  "Parallelism strategies": "Parallelism strategies (run vLLM on multiple GPUs)",
  "Tensor parallelism": "Tensor parallelism",
  "Data parallelism": "Data parallelism",
  "Choosing a load balancing strategy": "Choosing a load balancing strategy",
  "Data Parallel Attention": "Data Parallel Attention (advanced)",
  "Expert parallelism": "Expert parallelism",
  "Maximizing instances per node": "Maximizing instances per node",
  "Configure the gpu-memory-utilization parameter": "Configure the gpu-memory-utilization parameter",
  "vLLM engine arguments": "vLLM engine arguments",
  "Configure --max-num-seqs": "Configure --max-num-seqs",
  "Configure --max-num-batched-tokens": "Configure --max-num-batched-tokens",
  "Async scheduling": "Async scheduling",
  "CUDA graphs configuration": "CUDA graphs configuration",
  "Quantization support": "Quantization support",
  "On-the-fly quantization": "On-the-fly quantization",
  AWQ: "AWQ (Activation-aware Weight Quantization)",
  Quark: "Quark (AMD quantization toolkit)",
  "FP8 kv-cache dtype": "FP8 kv-cache dtype",
  "Speculative decoding": "Speculative decoding (experimental)",
  "Multi-node checklist and troubleshooting": "Multi-node checklist and troubleshooting",
} as const;

export type GuideSection = keyof typeof GUIDE_SECTIONS;

/** The HTML id Sphinx (docutils `make_id`) gives a section heading. */
export function sectionId(heading: string): string {
  return heading
    .normalize("NFKD")
    .replace(/[^\x20-\x7e]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[-0-9]+|-+$/g, "");
}

/** Public URL of a guide section. */
export function guideUrl(section: GuideSection): string {
  return `${GUIDE_URL}#${sectionId(GUIDE_SECTIONS[section])}`;
}

/** `guide § <section> [(<detail>)] <url>`: a guide section a user can open. */
export function guide(section: GuideSection, detail?: string): string {
  return `guide § ${section}${detail ? ` (${detail})` : ""} ${guideUrl(section)}`;
}

/** Sections of `docs/facts.md` (GitHub heading anchors), each holding one fact the rules rely on and its sources. */
export const FACTS = [
  "gpu-container-flags",
  "rdma-in-containers",
  "hugging-face-cache",
  "rccl-reads-nccl-names",
  "network-interfaces",
  "rccl-channels-across-nodes",
  "gpu-visibility",
  "ray-executor-across-nodes",
  "same-weights-on-every-node",
  "aiter-mla",
  "gpu-hardware",
  "model-shapes-and-kv-cache",
  "vllm-serve-flags",
  "async-scheduling-limits",
  "vllm-environment-variables",
  "attention-backend-log-lines",
  "multi-node-data-parallel",
  "native-multi-node",
] as const;

export type Fact = (typeof FACTS)[number];

/** The repository document holding the facts. */
export const FACTS_DOC = "docs/facts.md";

/** `docs/facts.md#<fact>`: a fact written up in this repository with its upstream sources. */
export function fact(anchor: Fact): string {
  return `${FACTS_DOC}#${anchor}`;
}

/** Several citations for one decision. */
export function cite(...sources: string[]): string {
  return sources.join("; ");
}
