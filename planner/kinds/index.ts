/**
 * The deployment kinds, in the order they are asked whether they run a deployment (the first that matches does).
 * Adding a kind is a new module implementing `DeploymentKindModule` and one line here.
 */
import { externalDataParallel } from "./externalDataParallel";
import type { DeploymentKindModule, KindQuery } from "./kind";
import { multiNodeDataParallel } from "./multiNodeDataParallel";
import { nativeMultiNode } from "./nativeMultiNode";
import { rayCluster } from "./rayCluster";
import { singleNode } from "./singleNode";

export const KINDS: readonly DeploymentKindModule[] = [
  externalDataParallel,
  multiNodeDataParallel,
  rayCluster,
  nativeMultiNode,
  singleNode,
];

/** The kind that runs a deployment of this shape. */
export function selectKind(q: KindQuery): DeploymentKindModule {
  const kind = KINDS.find((k) => k.matches(q));
  if (!kind) throw new Error(`internal: no deployment kind for ${JSON.stringify(q.shape)}`);
  return kind;
}
