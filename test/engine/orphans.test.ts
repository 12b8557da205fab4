/**
 * `fleet orphans --release` never releases what a stack owns: the owner set is every stack in the
 * backend, whatever config files exist or stack names look like, pending operations included; a
 * stack that is updating holds its servers; a release needs two scans a grace period apart and a
 * minimum age. Three cases of issue 18 (an offboarded tenant whose config file was removed, a
 * server still building in a concurrent up, a stack whose name is not a config file's) beside a
 * real orphan server and a stray IP, which are released. And issue 31's open bug: `fleet orphans`
 * run from another backend on the same account (server marks are hashes of backend, project and
 * stack) sees every server of this one as foreign: listed, never released.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { findImage } from "../../providers/hostwinds/catalog";
import { fleetOrphans } from "../../scripts/cli/fleet/commands";
import { fleetProject } from "../../scripts/lib/stacks/tenants";
import { backendFingerprint, serverName } from "../../providers/hostwinds/inputs";
import { serverMarkOf } from "./harness";

const KEY = "sim-key-orphans-0123456789";
const BACKEND = "orphans";
const OTHER_BACKEND = "orphans-other";
jest.setTimeout(8 * 60_000);

describe("orphans that are really orphans", () => {
  let sim: HostwindsSim;
  const dir = programDir("orphans", "test/fixtures/hostwinds");
  const stacks: Stack[] = [];
  const env = { ...process.env };

  beforeAll(async () => {
    // Builds take 4 s, so a concurrent up is still building while orphans scans twice.
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 4000, ipDelayMs: 200 }).start();
    Object.assign(process.env, { HOSTWINDS_API_KEY: KEY, HOSTWINDS_API_URL: sim.url, HOSTWINDS_REQUESTS_PER_SECOND: "0" });
  });
  afterAll(async () => {
    for (const s of stacks) await s.destroy().catch(() => undefined);
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    process.env = env;
    await sim.stop();
  });

  async function tenantStack(name: string, tenant: string, ipCount = 0): Promise<Stack> {
    const stack = await localStack(name, dir, { backend: BACKEND });
    stacks.push(stack);
    await stack.setAllConfig({ ...sim.stackConfig(KEY), tenant: { value: tenant }, ipCount: { value: String(ipCount) } });
    return stack;
  }
  const names = () => sim.inventory(KEY).map((s) => s.name);

  test("an offboarded tenant, a stack named unlike any config file and a server still building keep everything; a real orphan goes", async () => {
    const p = process.pid;
    // Offboarded: its config file was removed (there are none here at all); its stack and state remain.
    const gone = await tenantStack(`gone-${p}`, "gone", 1);
    await gone.up();
    // A stack name no config file pattern matches (capitals, underscore).
    const odd = await tenantStack(`Odd_Name-${p}`, "odd");
    await odd.up();

    // Real orphans: a server marked by a stack of this backend (gone's) that its state does not hold
    // (a run killed before saving it), and an IP no slot holds on gone's server.
    const client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    const template = findImage(await client.images(), "debian-12")!.uuid;
    const ghost = serverName({
      backend: backendFingerprint(gone.workspace.envVars),
      project: "orphans",
      stack: `gone-${p}`,
      tenant: "ghost",
      server: "mx1",
    });
    const goneMark = await serverMarkOf(gone, "gone");
    await client.buyInstance({ template, planRid: 101, locationId: 1, billingCycle: "monthly", name: ghost });
    const goneServer = sim.inventory(KEY).find((s) => s.name === goneMark)!;
    await client.buySecondaryIp(goneServer.serviceId);
    const stray = await client.waitFor("the stray IP", async () =>
      sim
        .inventory(KEY)
        .find((s) => s.serviceId === goneServer.serviceId)!
        .ips.find((ip) => !goneServer.ips.includes(ip)),
    );

    // A concurrent up: its server is bought and building (BUILD, 4 s) while orphans runs.
    const building = await tenantStack(`building-${p}`, "building");
    const buildingMark = await serverMarkOf(building, "building");
    const concurrent = building.up();
    await client.waitFor("the concurrent up's server", async () => names().find((n) => n.startsWith(buildingMark)), {
      timeoutMs: 60_000,
      initialDelayMs: 100,
    });

    // From another backend on the same account (with a stack of its own; not named like one here, as
    // both backends' stacks would share its config file in this folder): every server of this backend
    // is foreign, listed and never released, even with --release --yes.
    const other = await localStack(`elsewhere-${p}`, dir, { backend: OTHER_BACKEND });
    const fromOther = await fleetOrphans(
      { project: fleetProject(dir), localBackend: OTHER_BACKEND, concurrency: 2 },
      { release: true, graceMs: 1000, minAgeMs: 0 },
    );
    await other.workspace.removeStack(other.name, { force: true });
    expect(fromOther.orphans.filter((x) => x.released || !x.foreign)).toEqual([]);
    expect(fromOther.orphans.map((x) => x.server)).toEqual(expect.arrayContaining([goneMark, ghost, await serverMarkOf(odd, "odd")]));
    expect(fromOther.monthlyUsd).toBe(0);
    expect(sim.ledger(KEY).filter((e) => e.event === "released")).toEqual([]);

    const o = { project: fleetProject(dir), localBackend: BACKEND, concurrency: 2 };
    // The default minimum age (1 day) holds even a real orphan that is minutes old.
    const dry = await fleetOrphans(o, { release: false });
    expect(dry.orphans.map((x) => [x.kind, x.server, x.ip, x.held ? "held" : ""].filter(Boolean).join(" ")).sort()).toEqual(
      [`server ${ghost} held`, `ip ${goneMark} ${stray} held`].sort(),
    );

    const released = await fleetOrphans(o, { release: true, graceMs: 1000, minAgeMs: 0 });
    expect(
      released.orphans
        .filter((x) => x.released)
        .map((x) => `${x.kind} ${x.ip ?? x.server}`)
        .sort(),
    ).toEqual([`server ${ghost}`, `ip ${stray}`].sort());
    const after = names();
    for (const n of [goneMark, await serverMarkOf(odd, "odd")]) expect(after).toContain(n);
    expect(after.some((n) => n.startsWith(buildingMark))).toBe(true);
    expect(after.some((n) => n.startsWith(ghost))).toBe(false);
    // The concurrent up was not disturbed, and nothing a stack owns was released.
    expect((await concurrent).summary.result).toBe("succeeded");
    const releasedIds = sim.ledger(KEY).filter((e) => e.event === "released");
    expect(releasedIds.map((e) => e.ip ?? e.serviceId)).toHaveLength(2);
    expect((await gone.preview({ refresh: true, expectNoChanges: true })).changeSummary).toBeDefined();
  });
});
