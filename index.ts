/**
 * `pulumi up -s <stack>`: provisions the cluster described by `stacks/Pulumi.<stack>.yaml` and succeeds only when
 * every deployment serves. All logic lives in `components/program.ts`.
 */
import { deployCluster } from "./components/program";

const outputs = deployCluster();

export const endpoints = outputs.endpoints;
export const servedModelNames = outputs.servedModelNames;
export const warnings = outputs.warnings;
export const benchmarks = outputs.benchmarks;
export const preflight = outputs.preflight;
