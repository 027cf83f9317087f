/**
 * The member supervisor: the main process of every GPU container (under Docker's init), as the plan's text.
 *
 * It starts the member's own command (`vllm serve`, or a Ray launch script) and watches it:
 *
 * - **Exit**: any exit of the command is a failure, status 0 included (an engine death has exited 0,
 *   vllm-project/vllm#48966).
 * - **Live engine** (members that serve the API): ready means `/health` answers, `/v1/models` lists the model and a
 *   one-token generation completes; live means that generation keeps completing every `probeSeconds` (a busy engine
 *   whose token counter advances also counts) — `/health` has answered while the engine was dead
 *   (vllm-project/vllm#39863). `probeFailures` failed probes in a row are a failure.
 * - **Group**: a Ray head fails when a node it formed its cluster with leaves; a follower (a headless engine) fails
 *   when its leader's API stops answering after it had served; a Ray worker's launch script rejoins a restarted head.
 *
 * A failure stops the command (SIGTERM, then SIGKILL), records itself and exits 1, so Docker restarts the container
 * (`unless-stopped`, also after a daemon restart). The next start waits `backoffSeconds`, doubling with each failure
 * in a row (at most `maxBackoffSeconds`); after `maxRestarts` restarts without serving `stableSeconds` in between the
 * member stays `failed`: it keeps no process and no GPU memory, and stays so across restarts until the container is
 * replaced. A member that was killed without recording why (docker kill, out of memory) counts as a failure when it
 * starts again; a clean stop (docker stop, the daemon shutting down) does not. A stop signal ends a probe that waits on
 * a hung engine at once, so the stop is clean (the member gets its SIGTERM) well within Docker's stop grace.
 *
 * The state is a `key=value` file in the container's own file system (kept across restarts, new with a new
 * container): `state` is one of starting, loading, forming, serving, backoff, crashed, stopped, failed.
 */
import type { HealingPlan } from "../types";

/** What the supervisor watches beyond its command (from the deployment kind). */
export type SupervisedMember =
  /** Serves the API on `port`. */
  | { kind: "serving"; port: number }
  /** Serves the API on `port` and leads a Ray cluster whose formed nodes its launch script records. */
  | { kind: "ray-head"; port: number }
  /** Joins a Ray cluster; its launch script marks when it has joined. */
  | { kind: "ray-worker" }
  /** Runs engine ranks whose API the group's leader serves. */
  | { kind: "follower"; leader: { ip: string; port: number } };

export interface SupervisorConfig {
  container: string;
  deployment: string;
  member: SupervisedMember;
  /** The member's command (argv). */
  main: string[];
  servedModelName: string;
  /** How long the member may take to serve (its leader, for a follower) after it starts. */
  readySeconds: number;
  /** How long a stop may take before the command is killed (a little less than Docker's stop grace). */
  stopSeconds: number;
  healing: HealingPlan;
}

/** Files the Ray launch scripts write next to the status file. */
export const RAY_FORMED_FILE = "/var/lib/rocm-vllm/ray-formed";
export const RAY_JOINED_FILE = "/var/lib/rocm-vllm/ray-joined";

/** The supervisor program (Python 3 standard library only: every vLLM image has it). */
export const SUPERVISOR_PY = String.raw`# rocm-vllm member supervisor: restarts the member with back-off up to a cap when its engine or group breaks.
import json, os, signal, subprocess, sys, time, urllib.error, urllib.request

C = json.loads(sys.argv[1])
H = C["healing"]
M = C["member"]
NAME = C["container"]
STATUS = H["statusFile"]
FORMED = os.path.join(os.path.dirname(STATUS), "ray-formed")
JOINED = os.path.join(os.path.dirname(STATUS), "ray-joined")
RUNNING = ("starting", "loading", "forming", "serving")
stopping = []
waiting = []  # non-empty while the supervisor waits on an HTTP answer: a stop signal then ends the wait at once


class Stop(BaseException):
    """A stop signal during an HTTP wait (a probe of a hung engine can block for minutes): the normal stop path follows."""


def log(msg):
    print(f"rocm-vllm supervisor: {NAME}: {msg}", flush=True)


def on_term(signum, frame):
    stopping.append(signum)
    if waiting:
        raise Stop()


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def read_status():
    try:
        with open(STATUS, encoding="utf-8") as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return {}


class Status:
    def __init__(self, failures, cause):
        self.state, self.reason, self.failures, self.cause, self.since = "", "", failures, cause, time.time()

    def put(self, state, reason=""):
        changed = state != self.state
        if changed:
            self.since = time.time()
        self.state, self.reason = state, reason.replace("\n", " ")
        tmp = STATUS + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"state={state}\nfailures={self.failures}\nmax_restarts={H['maxRestarts']}\n")
            f.write(f"since={int(self.since)}\nbeat={int(time.time())}\nreason={self.reason}\ncause={self.cause}\n")
        os.replace(tmp, STATUS)
        if changed:
            log(f"state {state}" + (f": {reason}" if reason else ""))


def pause(seconds):
    end = time.time() + seconds
    while not stopping and time.time() < end:
        time.sleep(min(1.0, end - time.time()))


def http(method, url, body=None, timeout=5.0):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if os.environ.get("VLLM_API_KEY"):  # rocm-vllm:apiKey guards /v1 (planner/rules/apiKey.ts)
        headers["Authorization"] = "Bearer " + os.environ["VLLM_API_KEY"]
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    waiting.append(url)
    try:
        if stopping:
            raise Stop()
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    finally:
        waiting.pop()


def one_token(base, timeout):
    """A live engine completes a one-token generation (401/403: an API key guards it, the server answered)."""
    body = {"model": C["servedModelName"], "prompt": "ping", "max_tokens": 1, "temperature": 0}
    try:
        status, text = http("POST", base + "/v1/completions", body, timeout)
        return status == 200 and '"choices"' in text, f"generation answered {status}"
    except urllib.error.HTTPError as e:
        return e.code in (401, 403), f"generation answered {e.code}"
    except Exception as e:  # noqa: BLE001 - any failure to answer is the probe's answer
        return False, f"generation failed: {e}"


def tokens_generated(base):
    try:
        _, text = http("GET", base + "/metrics", timeout=5.0)
    except Exception:  # noqa: BLE001
        return None
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("vllm:generation_tokens_total"))


def ready(base):
    try:
        if http("GET", base + "/health")[0] != 200:
            return False
        if f'"id":"{C["servedModelName"]}"' not in http("GET", base + "/v1/models")[1].replace(" ", ""):
            return False
    except Exception:  # noqa: BLE001
        return False
    return one_token(base, 60.0)[0]


def leader_up(url):
    try:
        return http("GET", url + "/health", timeout=5.0)[0] == 200
    except Exception:  # noqa: BLE001
        return False


RAY_MONITOR = r'''
import json, sys, time
import ray
formed = json.load(open(sys.argv[1]))
ray.init(address="auto", logging_level="ERROR")
while True:
    try:
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
    except Exception as e:
        print(f"the Ray head's GCS does not answer: {e}", flush=True)
        sys.exit(1)
    lost = [f"{n['name']} ({n['ip']})" for n in formed if n["id"] not in alive]
    if lost:
        print(f"Ray node {', '.join(lost)} left the cluster the engine was formed on", flush=True)
        sys.exit(1)
    time.sleep(2)
'''


def stop(proc, why):
    if proc.poll() is None:
        log(f"stopping the member ({why})")
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = time.time() + C["stopSeconds"]
        while proc.poll() is None and time.time() < end:
            time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    if M["kind"] in ("ray-head", "ray-worker"):
        try:
            subprocess.run(["ray", "stop", "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            log(f"ray stop --force failed: {e}")


def supervise(st):
    for f in (FORMED, JOINED):
        if os.path.exists(f):
            os.unlink(f)
    st.put("starting")
    proc = subprocess.Popen(C["main"], start_new_session=True)
    base = f"http://127.0.0.1:{M['port']}" if "port" in M else ""
    leader = f"http://{M['leader']['ip']}:{M['leader']['port']}" if M["kind"] == "follower" else ""
    started, next_probe, misses, tokens, monitor, beat = time.time(), 0.0, 0, None, None, 0.0
    try:
        while not stopping:
            now = time.time()
            code = proc.poll()
            if code is not None:
                note = " (an engine that dies can exit 0: vllm-project/vllm#48966)" if code == 0 else ""
                return fail(st, proc, f"the member's command exited with status {code}{note}")
            if monitor is not None and monitor.poll() is not None:
                lines = (monitor.stdout.read() or "").strip().splitlines()
                return fail(st, proc, lines[-1] if lines else "the Ray membership monitor stopped")
            if M["kind"] == "ray-head" and monitor is None and os.path.exists(FORMED):
                monitor = subprocess.Popen([sys.executable, "-c", RAY_MONITOR, FORMED], stdout=subprocess.PIPE, text=True)
            if st.state != "serving":
                if now - started > C["readySeconds"]:
                    return fail(st, proc, f"not serving {C['readySeconds']} s after it started")
                if M["kind"] == "ray-worker":
                    if os.path.exists(JOINED):
                        st.put("serving", "joined the Ray head")
                    elif st.state == "starting":
                        st.put("forming", "joining the Ray head")
                elif M["kind"] == "follower":
                    if st.state == "starting":
                        st.put("forming", f"waiting for the leader at {leader}")
                    if now >= next_probe:
                        next_probe = now + 5
                        if leader_up(leader):
                            st.put("serving", f"the leader at {leader} serves")
                else:
                    if st.state == "starting":
                        st.put("forming" if M["kind"] == "ray-head" else "loading")
                    if st.state == "forming" and monitor is not None:
                        st.put("loading", "Ray cluster formed")
                    if now >= next_probe:
                        next_probe = now + 2
                        if ready(base):
                            st.put("serving", "a one-token generation completed")
                            next_probe, misses = now + H["probeSeconds"], 0
            else:
                if st.failures and now - st.since >= H["stableSeconds"]:
                    st.failures = 0
                    st.put("serving", f"served {H['stableSeconds']} s: failure count reset")
                if M["kind"] == "ray-worker":
                    # No API here: the worker lives while it is in a Ray cluster (its raylet exits when the head goes).
                    if not os.path.exists(JOINED):
                        started = now  # a new head gets the whole readiness time to form
                        st.put("forming", "the Ray head went away: rejoining")
                elif H["probeSeconds"] > 0 and now >= next_probe:
                    next_probe = now + H["probeSeconds"]
                    if M["kind"] == "follower":
                        ok, why = leader_up(leader), f"the leader at {leader} does not answer"
                    else:
                        ok, why = one_token(base, float(H["probeSeconds"]))
                        if not ok:
                            seen = tokens_generated(base)
                            if seen is not None and tokens is not None and seen > tokens:
                                ok = True  # busy, and producing tokens
                            tokens = seen
                    misses = 0 if ok else misses + 1
                    if misses >= H["probeFailures"]:
                        return fail(st, proc, f"{why} ({misses} probes in a row)")
            if now - beat >= 10:
                beat = now
                st.put(st.state, st.reason)
            time.sleep(1)
    except Stop:  # raised by on_term out of an HTTP wait; Stop is no Exception, so no probe counts it
        pass
    if monitor is not None:
        monitor.kill()
    stop(proc, "container stopping")
    st.put("stopped", "stopped by a signal (docker stop, or its Docker daemon stopping)")
    return 0


def fail(st, proc, reason):
    st.failures += 1
    st.cause = reason.replace("\n", " ")
    st.put("crashed", reason)
    stop(proc, reason)
    left = H["maxRestarts"] - st.failures + 1
    log(f"FAILURE {st.failures}: {reason}; " + (f"Docker restarts it after a back-off ({left} restart(s) left)" if left > 0 else "no restart left"))
    return 1


def main():
    os.makedirs(os.path.dirname(STATUS), exist_ok=True)
    prev = read_status()
    st = Status(int(prev.get("failures", "0") or 0), prev.get("cause", ""))
    state = prev.get("state", "")
    if state in RUNNING:
        beat, since = int(prev.get("beat", "0")), int(prev.get("since", "0"))
        st.failures = 1 if state == "serving" and beat - since >= H["stableSeconds"] else st.failures + 1
        st.cause = f"the container ended while {state} without stopping (killed, out of memory, or its host went down)"
        log(f"FAILURE {st.failures}: {st.cause}")
    if state == "failed" or st.failures > H["maxRestarts"]:
        why = prev.get("reason", "") if state == "failed" else f"gave up after {H['maxRestarts']} restarts without serving {H['stableSeconds']} s in between; last failure: {st.cause}"
        st.put("failed", why)
        log(f"FAILED: {why}. It holds no GPU and stays failed until the container is replaced: run deploy.sh again, or docker rm -f {NAME} and pulumi up --refresh")
        while not stopping:
            time.sleep(1)
        return 0
    if st.failures > 0:
        wait = min(H["backoffSeconds"] * 2 ** (st.failures - 1), H["maxBackoffSeconds"])
        st.put("backoff", f"restart {st.failures} of {H['maxRestarts']} in {wait} s after: {st.cause}")
        pause(wait)
        if stopping:
            st.put("stopped", "stopped during back-off")
            return 0
    return supervise(st)


sys.exit(main())
`;

/** The container command of a supervised member: `python3 -c <supervisor> <config JSON>`. */
export function supervisedCommand(config: SupervisorConfig): string[] {
  return ["python3", "-c", SUPERVISOR_PY, JSON.stringify(config)];
}

/** The supervisor's configuration in a container command, or `undefined` for an unsupervised command. */
export function supervisorConfig(command: readonly string[]): SupervisorConfig | undefined {
  if (command[0] !== "python3" || command[1] !== "-c" || command[2] !== SUPERVISOR_PY || command[3] === undefined) {
    return undefined;
  }
  return JSON.parse(command[3]) as SupervisorConfig;
}

/** The member's own command inside a container command (the command itself when it is not supervised). */
export function memberCommand(command: readonly string[]): string[] {
  return supervisorConfig(command)?.main ?? [...command];
}
