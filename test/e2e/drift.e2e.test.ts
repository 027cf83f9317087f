/**
 * No drift against a real daemon: every container the Pulumi program registers for the e2e stacks (so every kind
 * of container the plan produces: serving, Ray head and worker, headless data-parallel engine, load balancer) is
 * created on a simulated host's dockerd exactly as the Docker provider creates it, inspected, read back exactly as
 * the provider reads it, and compared field by field with the inputs the program registered (see providerModel.ts
 * for the fields and the provider source). A difference would replace the container on every `pulumi up`; the test
 * names the field. Jobs (weight downloads, benchmarks) are commands, not containers the provider keeps.
 */
import { readdirSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Plan } from "../../planner/types";
import { CONTAINER, NODE_COMMAND, readStackFile, runProgram } from "../support/pulumiMocks";
import { createBody, driftedFields, type InspectJson, readState } from "./providerModel";
import { cli, docker, E2E, HOSTS, type HostName, planOf, ROOT, STATE } from "./support";

/** Calls a simulated host's Docker Engine API on its socket, at the version the provider negotiates with it. */
function api(host: HostName, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: join(STATE, "hosts", host, "docker.sock"),
        method,
        path: `/v1.41${path}`,
        headers: { "Content-Type": "application/json" },
        timeout: 60_000,
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => {
          text += d.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text === "" ? undefined : JSON.parse(text) }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Every e2e test stack: between them they run every kind of long-running container (checked below). */
const STACKS = readdirSync(join(E2E, "stacks"))
  .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => s !== undefined)
  .sort();
const created: { host: HostName; id: string }[] = [];

afterAll(async () => {
  for (const c of created.splice(0)) await api(c.host, "DELETE", `/containers/${c.id}?force=true`);
});

describe("the Docker provider reads back exactly what the program registers", () => {
  for (const stack of STACKS) {
    it(`${stack}: every container, created as the provider creates it on a real dockerd, has no drifted field`, async () => {
      const plan = await planOf(stack);
      const program = await runProgram(readStackFile(join(E2E, "stacks", `Pulumi.${stack}.yaml`)));
      const providers = new Map(program.resources.map((r) => [r.urn, r]));
      const containers = program.resources.filter((r) => r.type === CONTAINER);
      // The plan's every long-running container is registered (and no job is: jobs are commands).
      const planned = plan.nodes.flatMap((n) => [...n.containers, ...n.services]);
      expect(containers.map((c) => c.inputs.name).sort()).toEqual(planned.map((s) => s.name).sort());
      const jobs = plan.nodes.flatMap((n) => n.jobs.map((j) => j.container.name));
      for (const job of jobs) expect(containers.map((c) => c.inputs.name)).not.toContain(job);
      expect(program.resources.filter((r) => r.type === NODE_COMMAND).length).toBeGreaterThan(0);

      const report: string[] = [];
      for (const c of containers) {
        const provider = providers.get(c.provider ?? "");
        const ip = /@([\d.]+):/.exec(String(provider?.inputs.host))?.[1];
        const host = (Object.entries(HOSTS).find(([, a]) => a === ip)?.[0] ?? "") as HostName;
        expect(host, `${c.name} on a simulated host`).not.toBe("");
        const spec = planned.find((s) => s.name === c.inputs.name);
        if (!spec) throw new Error(`no plan entry for ${String(c.inputs.name)}`);
        // The image ID the pull would report (RemoteImage.imageId), in place of the mocks' stand-in.
        const imageId = (await docker(host, "image", "inspect", "-f", "{{.Id}}", spec.image)).trim();
        const inputs: Record<string, unknown> = { ...c.inputs, image: imageId };
        await api(host, "DELETE", `/containers/${encodeURIComponent(spec.name)}?force=true`);
        const made = await api(host, "POST", `/containers/create?name=${encodeURIComponent(spec.name)}`, {
          ...createBody(inputs, imageId),
        });
        expect(made.status, JSON.stringify(made.json)).toBe(201);
        const id = (made.json as { Id: string }).Id;
        created.push({ host, id });
        const inspected = await api(host, "GET", `/containers/${id}/json`);
        const state = readState(inspected.json as InspectJson, inputs);
        const drifted = driftedFields(inputs, state);
        for (const field of drifted) {
          report.push(
            `${spec.name} (${spec.role}) on ${host}: ${field} registered ${JSON.stringify(inputs[field])}, daemon reports ${JSON.stringify(state[field])}`,
          );
        }
        await api(host, "DELETE", `/containers/${id}?force=true`);
      }
      expect(report, report.join("\n")).toEqual([]);
      // Every kind of long-running container the plan produces was checked.
      const roles = new Set(planned.map((s) => s.role));
      expect([...roles].length).toBeGreaterThan(0);
    }, 120_000);
  }

  it("covers every kind of long-running container the example stacks run", async () => {
    const roles = async (files: string[]) => {
      const out = new Set<string>();
      for (const file of files) {
        const r = await cli("plan", "--json", file);
        if (r.code !== 0) throw new Error(`plan ${file}: ${r.stderr}`);
        for (const n of (JSON.parse(r.stdout) as Plan).nodes) {
          for (const c of [...n.containers, ...n.services]) out.add(c.role);
        }
      }
      return [...out].sort();
    };
    const examples = join(ROOT, "stacks");
    const exampleRoles = await roles(readdirSync(examples).map((f) => join(examples, f)));
    const checked = await roles(STACKS.map((s) => join(E2E, "stacks", `Pulumi.${s}.yaml`)));
    expect(exampleRoles.length).toBeGreaterThan(2);
    expect(checked).toEqual(expect.arrayContaining(exampleRoles));
  });

  it("would catch the daemon's own additions (label=disable with host IPC) if the plan left them out", async () => {
    const plan = await planOf("e2e-packed");
    const spec = plan.nodes[0]?.containers[0];
    if (!spec) throw new Error("no container");
    const program = await runProgram(readStackFile(join(E2E, "stacks", "Pulumi.e2e-packed.yaml")));
    const c = program.resources.find((r) => r.type === CONTAINER && r.inputs.name === spec.name);
    if (!c) throw new Error("not registered");
    const imageId = (await docker("h1", "image", "inspect", "-f", "{{.Id}}", spec.image)).trim();
    // What the program registered before this fix: the guide's words, not the daemon's.
    const old = {
      ...c.inputs,
      image: imageId,
      securityOpts: ["seccomp=unconfined"],
      capabilities: { adds: ["SYS_PTRACE"] },
    };
    const name = "rocm-vllm-e2e-drift-probe";
    const made = await api("h1", "POST", `/containers/create?name=${name}`, createBody({ ...old, name }, imageId));
    expect(made.status).toBe(201);
    const id = (made.json as { Id: string }).Id;
    created.push({ host: "h1", id });
    const state = readState((await api("h1", "GET", `/containers/${id}/json`)).json as InspectJson, old);
    expect(state.securityOpts).toEqual(["seccomp=unconfined", "label=disable"]);
    expect(driftedFields({ ...old, name }, state).sort()).toEqual(["capabilities", "securityOpts"]);
  });
});
