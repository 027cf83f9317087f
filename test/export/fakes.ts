/**
 * Fakes for running exported scripts without Docker or SSH: a `docker` and an `ssh` that record how they were called,
 * and a ROCM_VLLM_ON_NODE hook that records what each node was sent. All are small Node scripts in a temp directory.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakeContainer {
  name: string;
  labels: Record<string, string>;
  running: boolean;
}

export interface FakeCall {
  argv: string[];
  /** HF_TOKEN as the fake saw it in its environment (how `docker run --env HF_TOKEN` would read it). */
  hfToken?: string;
  stdin?: string;
}

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by `removeTempDirs`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory `tempDir` (and `Fakes`) created; for `afterAll`. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A directory with fake `docker` and `ssh` executables and the hook; each records calls as JSON lines. */
export class Fakes {
  readonly dir = tempDir("rocm-vllm-fakes-");
  readonly hook = join(this.dir, "on-node");
  /** The fake docker's containers: name → labels and whether it runs. */
  private readonly stateFile = join(this.dir, "containers.json");

  constructor() {
    // docker: keeps containers (name, labels, running) in containers.json, so scripts see what they started; images
    // are always present. Understands the subcommands and --format templates the exported scripts use.
    this.script(
      "docker",
      `const state = ${JSON.stringify(this.stateFile)};
       const load = () => (fs.existsSync(state) ? JSON.parse(fs.readFileSync(state, "utf8")) : {});
       const save = (c) => fs.writeFileSync(state, JSON.stringify(c));
       const containers = load();
       const [a, b] = argv;
       const flag = (name) => { const i = argv.indexOf(name); return i < 0 ? undefined : argv[i + 1]; };
       const render = (format, c) => format
         .replace(/{{index .Config.Labels "([^"]+)"}}/g, (_, k) => c.labels[k] ?? "")
         .replace(/{{.State.Running}}/g, String(c.running))
         .replace(/{{.Names}}/g, c.name);
       if (a === "run") {
         const labels = {};
         argv.forEach((w, i) => { if (w === "--label") { const [k, ...v] = argv[i + 1].split("="); labels[k] = v.join("="); } });
         const name = flag("--name");
         if (argv[1] === "--detach") {
           if (containers[name]) { console.error("Conflict. The container name " + name + " is already in use"); process.exit(125); }
           containers[name] = { name, labels, running: true };
           save(containers);
         }
       } else if (a === "image" && b === "inspect") {
         // Every image is present; its ID is a hash of its name.
         if (argv.includes("--format"))
           console.log("sha256:" + require("node:crypto").createHash("sha256").update(argv[argv.length - 1]).digest("hex"));
       } else if (a === "exec") {
         // No member status file: no member gave up.
         process.exitCode = 1;
       } else if (a === "container" && b === "inspect") {
         const name = argv[argv.length - 1];
         const c = containers[name];
         if (!c) { console.error("Error: No such container: " + name); process.exit(1); }
         const format = flag("--format");
         console.log(format ? render(format, c) : JSON.stringify(c));
       } else if (a === "ps") {
         const filters = argv.flatMap((w, i) => (w === "--filter" ? [argv[i + 1].replace(/^label=/, "")] : []));
         for (const c of Object.values(containers)) {
           if (filters.every((f) => { const [k, ...v] = f.split("="); return c.labels[k] === v.join("="); })) {
             console.log(render(flag("--format") ?? "{{.Names}}", c));
           }
         }
       } else if (a === "stop") {
         for (const name of argv.slice(1).filter((w, i, all) => !w.startsWith("--") && all[i - 1] !== "--time")) {
           if (containers[name]) containers[name].running = false;
         }
         save(containers);
       } else if (a === "rm") {
         for (const name of argv.slice(1).filter((w) => !w.startsWith("--"))) {
           if (!containers[name]) { console.error("Error: No such container: " + name); process.exitCode = 1; }
           delete containers[name];
         }
         save(containers);
       }`,
    );
    this.script("ssh", "", true);
    // The hook: $1 node, $2 host, the script on stdin. FAKE_FAIL="<node>:<action>" makes that call fail. Asked which
    // containers differ from the plan (`changed <names>`), it answers all of them, as on a first deployment (none with
    // FAKE_UNCHANGED set, as on a rerun after every container was replaced).
    this.script(
      "on-node",
      `const first = stdin.split("\\n")[0];
       const words = first.startsWith("set -- ") ? first.slice(7).split(" ") : ["script"];
       const action = words[0];
       if (process.env.FAKE_FAIL === argv[0] + ":" + action) { console.error("fake failure on " + argv[0]); process.exitCode = 1; }
       else if (action === "changed") { if (!process.env.FAKE_UNCHANGED) for (const name of words.slice(1)) console.log(name); }
       else console.log("fake " + action + " on " + argv[0]);`,
      true,
    );
  }

  private script(name: string, body: string, readStdin = false): void {
    const file = join(this.dir, name);
    writeFileSync(
      file,
      `#!${process.execPath}
const fs = require("node:fs");
const argv = process.argv.slice(2);
const stdin = ${readStdin ? 'fs.readFileSync(0, "utf8")' : '""'};
fs.appendFileSync(${JSON.stringify(join(this.dir, `${name}.log`))}, JSON.stringify({ argv, hfToken: process.env.HF_TOKEN, stdin }) + "\\n");
${body}
`,
    );
    chmodSync(file, 0o755);
  }

  /** The containers the fake docker holds, by name. */
  containers(): Record<string, FakeContainer> {
    return existsSync(this.stateFile)
      ? (JSON.parse(readFileSync(this.stateFile, "utf8")) as Record<string, FakeContainer>)
      : {};
  }

  /** Puts a container on the fake node (another stack's, or one rocm-vllm does not manage). */
  addContainer(name: string, labels: Record<string, string>, running = true): void {
    writeFileSync(this.stateFile, JSON.stringify({ ...this.containers(), [name]: { name, labels, running } }));
  }

  /** Calls of a fake, in order. */
  calls(name: "docker" | "ssh" | "on-node"): FakeCall[] {
    const log = join(this.dir, `${name}.log`);
    if (!existsSync(log)) return [];
    return readFileSync(log, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as FakeCall);
  }

  /** Runs a script with bash, the fakes first on PATH, and only the given environment. */
  run(script: string, args: string[], env: Record<string, string> = {}, input = "") {
    const r = spawnSync("bash", [script, ...args], {
      encoding: "utf8",
      input,
      timeout: 60_000,
      env: { PATH: `${this.dir}:/usr/local/bin:/usr/bin:/bin`, HOME: join(this.dir, "home"), ...env },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
}

/** Runs shellcheck on a file (default severity: style); returns its report, empty when clean. */
export function shellcheck(file: string, shell?: "sh" | "bash"): string {
  const r = spawnSync("shellcheck", [...(shell ? ["-s", shell] : []), file], { encoding: "utf8" });
  if (r.error) throw r.error;
  return r.status === 0 ? "" : `${r.stdout}${r.stderr}`;
}
