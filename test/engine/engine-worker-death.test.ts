/**
 * An engine worker (`fleet up --inline`, scripts/lib/stacks/engine-workers.ts) killed while a
 * tenant's `up` runs: SIGKILL of the worker alone, as the out-of-memory killer would, at the
 * tenant's first IP purchase. Its process group goes with it (the CLI it ran and that CLI's
 * plugins), so the stack is left as a killed CLI leaves it: that tenant fails naming the worker's
 * exit and `fleet recover`; the slot's next tenant succeeds on a new worker; nothing more is bought
 * for the killed tenant; `fleet recover` clears the lock and the pending operations; and the next up
 * finishes the tenant buying nothing twice (the stand-in's purchases).
 *
 * And Ctrl-C at the terminal of a `fleet up` (the CLI as a user runs it, in a process group of its
 * own as a terminal's foreground job is; the worker leads another, which the terminal's Ctrl-C does
 * not reach): the running tenant stops as `pulumi up` stops on Ctrl-C, the next is not started,
 * the command exits 130 naming it, the worker and its CLI end, and the next up finishes the
 * tenant without `fleet recover`, buying nothing twice.
 */
import { spawn } from "child_process";
import * as path from "path";
import { projectRoot } from "../../scripts/lib/engine/pulumi-env";
import { descendants } from "../../scripts/dev/processes";
import { fleetUp } from "../../scripts/cli/fleet/commands";
import { engineWorkerPids } from "../../scripts/lib/stacks/engine-workers";
import { recoverStack } from "../../scripts/cli/fleet/recover";
import { ENGINE_TEST_CEILING_MS, descendantsMatching, running } from "./harness";
import { StandinFleet, startStandinFleet } from "./standin-fleet";

jest.setTimeout(ENGINE_TEST_CEILING_MS);

describe("an engine worker killed mid-tenant", () => {
  let fleet: StandinFleet;
  const opts = () => fleet.options({ inline: true });

  beforeAll(async () => {
    // The IP takes long enough to arrive that the kill lands while the provider waits for it.
    fleet = await startStandinFleet(
      "worker-death",
      { buildMs: 200, ipDelayMs: 2000 },
      {
        ka: { sendingIps: 2 },
        kb: { sendingIps: 1 },
        kc: { sendingIps: 2 },
        kd: { sendingIps: 1 },
      },
    );
  });
  afterAll(() => fleet.stop(["ka", "kb", "kc", "kd"]));
  const bought = () => fleet.sim.ledger(fleet.key).filter((e) => e.event === "bought");
  /** Waits (a ceiling, not a timing) until none of `pids` runs. */
  const ended = async (pids: number[]) => {
    let alive = pids.filter(running);
    for (const t0 = Date.now(); alive.length && Date.now() - t0 < 120_000; alive = pids.filter(running))
      await new Promise((r) => setTimeout(r, 100));
    return alive;
  };

  test("the tenant fails naming the exit and fleet recover; the next runs on a new worker; recover, then up buys nothing twice", async () => {
    let killed: { worker: number; cli: number; group: number[] } | undefined;
    fleet.sim.onRequest = (action) => {
      // ka's first IP purchase is sent: the provider now waits for the IP, with one more to buy.
      if (killed || action !== "add_ip") return;
      const [worker] = engineWorkerPids();
      const [cli] = worker ? descendantsMatching(worker, "\0up\0") : [];
      if (!cli) return;
      killed = { worker, cli, group: descendants(worker) };
      process.kill(worker, "SIGKILL");
    };
    const [ka, kb] = await fleetUp(opts(), ["ka", "kb"]);
    fleet.sim.onRequest = undefined;
    expect(killed).toBeDefined();
    expect(ka.status).toBe("failed");
    expect(ka.error).toMatch(new RegExp(`engine worker slot-0 \\(pid ${killed!.worker}\\) exited \\(SIGKILL\\)`));
    expect(ka.error).toMatch(/fleet recover --tenant ka/);
    expect(kb.error ?? "").toBe("");
    expect(kb.status).toBe("ok");
    const workers = engineWorkerPids();
    expect(workers).toHaveLength(1);
    expect(workers).not.toContain(killed!.worker);

    // The CLI the worker ran and its plugins went with the worker's process group (a ceiling, not a timing).
    let alive = killed!.group.filter(running);
    for (const t0 = Date.now(); alive.length && Date.now() - t0 < 60_000; alive = killed!.group.filter(running))
      await new Promise((r) => setTimeout(r, 100));
    expect(alive).toEqual([]);
    expect(killed!.group).toContain(killed!.cli);

    const ledger = () => fleet.sim.ledger(fleet.key).filter((e) => e.event === "bought");
    const kaServer = ledger().find((e) => e.kind === "server")!.serviceId;
    const kaIps = () => ledger().filter((e) => e.kind === "ip" && e.serviceId === kaServer).length;
    // Only the purchase on the wire at the kill: the dead run bought nothing after it, while kb ran.
    expect(kaIps()).toBe(1);

    // fleet recover: the lock of the dead CLI and the pending IP create, reconciled with the account.
    const r = await recoverStack(await fleet.stackOf("ka"), { log: () => undefined });
    expect(r.lock).toMatch(/locked by .* \(no longer running\)/);
    expect(r.cleared).toBe(true);
    expect(r.pending.join("\n")).toMatch(/open IP order|unclaimed IPs|exists in the account/);

    const [again] = await fleetUp(opts(), ["ka"]);
    expect(again.error ?? "").toBe("");
    expect(again.status).toBe("ok");
    // ka: 1 server and 2 IPs in all (a starter tenant's most); kb: 1 server and 1 IP.
    expect(kaIps()).toBe(2);
    expect(ledger().filter((e) => e.kind === "server")).toHaveLength(2);
    expect(ledger().filter((e) => e.kind === "ip")).toHaveLength(3);
  });

  test("Ctrl-C at the terminal: the running tenant stops as pulumi up stops, the next is not started, exit 130; the next up needs no recover and buys nothing twice", async () => {
    const servers = () => bought().filter((e) => e.kind === "server").length;
    const serversBefore = servers();
    const cli = spawn(
      process.execPath,
      [path.join(projectRoot, "dist/scripts/cli/fleet.js"), "up", "--tenants", "kc,kd", "--concurrency", "1", "--root", fleet.root],
      {
        env: fleet.cliEnv(),
        // A terminal's foreground job: the fleet command leads a group, which Ctrl-C signals as a whole.
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    cli.stdout!.on("data", (d: Buffer) => (stdout += d));
    cli.stderr!.on("data", (d: Buffer) => (stderr += d));
    const closed = new Promise<number | null>((r) => cli.on("close", (code) => r(code)));
    let pressed: { worker: number; pulumi: number } | undefined;
    fleet.sim.onRequest = (action) => {
      // kc's first IP purchase is sent: the provider now waits for the IP, with one more to buy.
      if (pressed || action !== "add_ip") return;
      const [worker] = descendantsMatching(cli.pid!, "engine-worker");
      const [pulumi] = worker ? descendantsMatching(worker, "\0up\0") : [];
      if (!pulumi) return;
      pressed = { worker, pulumi };
      process.kill(-cli.pid!, "SIGINT");
    };
    const status = await closed;
    fleet.sim.onRequest = undefined;
    expect(pressed).toBeDefined();
    expect(stderr).toMatch(/fleet up: Ctrl-C: no more tenants start/);
    expect(stderr).toMatch(/fleet up: kc failed: /);
    expect(stderr).toMatch(/fleet up: interrupted; not started: kd/);
    expect(stdout).toMatch(/Interrupted \(Ctrl-C\)\*\*: .*1 not started: kd/);
    expect(status).toBe(130);
    // The worker answered once its CLI stopped; with the command gone, both have ended.
    expect(await ended([pressed!.worker, pressed!.pulumi])).toEqual([]);
    // kd never started: one server bought, kc's.
    expect(servers()).toBe(serversBefore + 1);
    const kcServer = bought()
      .filter((e) => e.kind === "server")
      .at(-1)!.serviceId;
    const kcIps = () => bought().filter((e) => e.kind === "ip" && e.serviceId === kcServer).length;
    // The operations under way finished (kc's two IPs are created side by side): never more than its slots.
    expect(kcIps()).toBeGreaterThanOrEqual(1);
    expect(kcIps()).toBeLessThanOrEqual(2);

    // No fleet recover: the CLI stopped as on Ctrl-C, unlocked, with no operation left pending.
    const state = (await (await fleet.stackOf("kc")).exportStack()).deployment as { pending_operations?: unknown[] };
    expect(state.pending_operations ?? []).toEqual([]);
    const [again] = await fleetUp(opts(), ["kc"]);
    expect(again.error ?? "").toBe("");
    expect(kcIps()).toBe(2);
    expect(servers()).toBe(serversBefore + 1);
  });
});
