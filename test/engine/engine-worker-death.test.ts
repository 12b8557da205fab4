/**
 * An engine worker (`fleet up --inline`, scripts/cli/fleet/engine-workers.ts) killed while a
 * tenant's `up` runs: SIGKILL of the worker alone, as the out-of-memory killer would, at the
 * tenant's first IP purchase. Its process group goes with it (the CLI it ran and that CLI's
 * plugins), so the stack is left as a killed CLI leaves it: that tenant fails naming the worker's
 * exit and `fleet recover`; the slot's next tenant succeeds on a new worker; nothing more is bought
 * for the killed tenant; `fleet recover` clears the lock and the pending operations; and the next up
 * finishes the tenant buying nothing twice (the stand-in's purchases).
 */
import * as fs from "fs";
import * as path from "path";
import { devDir, projectRoot, workDirFor } from "../../scripts/lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../../scripts/dev/fleet-project";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { standinEnv } from "../../scripts/dev/standins/env";
import { descendants } from "../../scripts/dev/processes";
import { FleetOptions, fleetUp } from "../../scripts/cli/fleet/commands";
import { engineWorkerPids, stopEngineWorkers } from "../../scripts/cli/fleet/engine-workers";
import { recoverStack } from "../../scripts/cli/fleet/recover";
import { openTenantStack } from "../../scripts/lib/stacks/stacks";
import { fleetProject } from "../../scripts/lib/stacks/tenants";
import { ENGINE_TEST_CEILING_MS, descendantsMatching } from "./harness";

const KEY = "sim-key-worker-death-0123456789";
const CF_TOKEN = "sim-cf-token-worker-death-0123456789";
const BACKEND = `worker-death-${process.pid}`;
jest.setTimeout(ENGINE_TEST_CEILING_MS);

/** Whether a process is still running (a zombie waiting to be reaped has ended). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("an engine worker killed mid-tenant", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  const dir = workDirFor(`worker-death-${process.pid}`);
  const saved = { ...process.env };
  const opts = (): FleetOptions => ({
    project: fleetProject(dir),
    concurrency: 1,
    localBackend: BACKEND,
    policyPacks: [path.join(projectRoot, "policies")],
    inline: true,
  });
  const stackOf = (tenant: string) => openTenantStack(fleetProject(dir), tenant, 0, { localBackend: BACKEND }, false);

  beforeAll(async () => {
    // The IP takes long enough to arrive that the kill lands while the provider waits for it.
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 2000 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
    Object.assign(process.env, standinEnv(sim, KEY, cf, CF_TOKEN));
    makeFleetProject(dir);
    for (const t of ["ka", "kb"]) cf.addZone(`${t}-mail.com`);
    writeSmallTenant(dir, "ka", { sendingIps: 2 });
    writeSmallTenant(dir, "kb", { sendingIps: 1 });
  });
  afterAll(async () => {
    await stopEngineWorkers();
    for (const t of ["ka", "kb"]) {
      const s = await stackOf(t).catch(() => undefined);
      if (s) await s.destroy().catch(() => undefined);
    }
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await sim.stop();
    await cf.stop();
    fs.rmSync(path.join(devDir, "backends", BACKEND), { recursive: true, force: true });
  });

  test("the tenant fails naming the exit and fleet recover; the next runs on a new worker; recover, then up buys nothing twice", async () => {
    let killed: { worker: number; cli: number; group: number[] } | undefined;
    sim.onRequest = (action) => {
      // ka's first IP purchase is sent: the provider now waits for the IP, with one more to buy.
      if (killed || action !== "add_ip") return;
      const [worker] = engineWorkerPids();
      const [cli] = worker ? descendantsMatching(worker, "\0up\0") : [];
      if (!cli) return;
      killed = { worker, cli, group: descendants(worker) };
      process.kill(worker, "SIGKILL");
    };
    const [ka, kb] = await fleetUp(opts(), ["ka", "kb"]);
    sim.onRequest = undefined;
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

    const ledger = () => sim.ledger(KEY).filter((e) => e.event === "bought");
    const kaServer = ledger().find((e) => e.kind === "server")!.serviceId;
    const kaIps = () => ledger().filter((e) => e.kind === "ip" && e.serviceId === kaServer).length;
    // Only the purchase on the wire at the kill: the dead run bought nothing after it, while kb ran.
    expect(kaIps()).toBe(1);

    // fleet recover: the lock of the dead CLI and the pending IP create, reconciled with the account.
    const r = await recoverStack(await stackOf("ka"), { log: () => undefined });
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
});
