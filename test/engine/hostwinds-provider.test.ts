/**
 * The Hostwinds dynamic provider through the real Pulumi engine, on the local
 * file backend, against the Hostwinds stand-in on loopback. The stand-in's
 * ledger is the judge of what was bought and released.
 */
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim, LedgerEntry } from "../../scripts/dev/standins/hostwinds";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { descendantsMatching, readAll, serverMarkOf } from "./harness";
import { IMAGES } from "../../scripts/dev/standins/hostwinds";
const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;

const KEY = "sim-key-alpha-0123456789";
const OTHER_KEY = "sim-key-bravo-0123456789";
const BACKEND = "hostwinds-provider";

jest.setTimeout(15 * 60_000);

describe("hostwinds provider through the engine", () => {
  let sim: HostwindsSim;
  const logs: string[] = [];
  const dir = programDir("hostwinds-provider", "test/fixtures/hostwinds");
  const stacks: Stack[] = [];

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY, OTHER_KEY], buildMs: 300, ipDelayMs: 300 }).start();
  });
  afterAll(async () => {
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    await sim.stop();
  });
  beforeEach(() => {
    sim.faults = {};
    sim.onRequest = undefined;
  });

  async function tenantStack(tenant: string, config: Record<string, string> = {}, key = KEY): Promise<Stack> {
    const stack = await localStack(`${tenant}-${process.pid}`, dir, { backend: BACKEND });
    stacks.push(stack);
    await stack.setAllConfig({
      ...sim.stackConfig(key),
      tenant: { value: tenant },
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, { value: v }])),
    });
    return stack;
  }
  const out = { onOutput: (s: string) => logs.push(s), onError: (s: string) => logs.push(s) };
  const bought = (l: LedgerEntry[], kind: "server" | "ip") => l.filter((e) => e.kind === kind && e.event === "bought");
  const released = (l: LedgerEntry[], kind: "server" | "ip") => l.filter((e) => e.kind === kind && e.event === "released");
  const ledgerOf = (serviceId: number, key = KEY) => sim.ledger(key).filter((e) => e.serviceId === serviceId);
  const accountIps = (serviceId: number, key = KEY) => sim.inventory(key).find((i) => i.serviceId === serviceId)?.ips ?? [];

  test("up buys exactly 1 server and 3 IPs; a second preview shows no changes", async () => {
    const stack = await tenantStack("acme", { ipCount: "3" });
    const up = await stack.up(out);
    expect(up.summary.result).toBe("succeeded");
    const id = up.outputs.serviceId.value as number;
    const l = ledgerOf(id);
    expect(bought(l, "server")).toHaveLength(1);
    expect(bought(l, "ip")).toHaveLength(3);
    expect(up.outputs.serverName.value).toBe(await serverMarkOf(stack, "acme"));
    expect(up.outputs.serverName.value).toMatch(/^pm-[0-9a-z]{14}$/);
    expect(up.outputs.status.value).toBe("ACTIVE");
    expect(up.outputs.rootPassword.secret).toBe(true);
    expect(up.outputs.serverMonthlyUsd.value).toBe(4.99);
    expect(up.outputs.ipMonthlyUsd.value).toEqual([4.99, 4.99, 4.99]);
    const ips = up.outputs.ips.value as string[];
    expect(new Set(ips)).toEqual(new Set(bought(l, "ip").map((e) => e.ip)));
    expect(accountIps(id).sort()).toEqual([up.outputs.mainIp.value, ...ips].sort());
    const preview = await stack.preview({ expectNoChanges: true, ...out });
    expect(preview.changeSummary).toEqual({ same: 5 });
  });

  test("3 → 5 IPs previews +2 and buys 2; 5 → 2 previews -3 and releases 3", async () => {
    const stack = await tenantStack("acme");
    await stack.setConfig("ipCount", { value: "5" });
    expect((await stack.preview(out)).changeSummary).toEqual({ create: 2, same: 5 });
    const up5 = await stack.up(out);
    const id = up5.outputs.serviceId.value as number;
    expect(bought(ledgerOf(id), "ip")).toHaveLength(5);
    expect(up5.outputs.ips.value).toHaveLength(5);

    await stack.setConfig("ipCount", { value: "2" });
    expect((await stack.preview(out)).changeSummary).toEqual({ delete: 3, same: 4 });
    const up2 = await stack.up(out);
    const l = ledgerOf(id);
    expect(bought(l, "ip")).toHaveLength(5);
    expect(
      released(l, "ip")
        .map((e) => e.ip)
        .sort(),
    ).toEqual((up5.outputs.ips.value as string[]).slice(2).sort());
    expect(accountIps(id).sort()).toEqual([up2.outputs.mainIp.value, ...(up2.outputs.ips.value as string[])].sort());
    expect(bought(l, "server")).toHaveLength(1);
  });

  test("drift: an IP released and an rDNS changed in the panel show in refresh; up buys a replacement and restores the rDNS", async () => {
    const stack = await tenantStack("acme");
    const before = (await stack.outputs()).ips.value as string[];
    const id = (await stack.outputs()).serviceId.value as number;
    sim.releaseIpByHand(KEY, before[0]);
    sim.setRdnsByHand(KEY, before[1], "changed-by-hand.example");
    await expect(stack.preview({ refresh: true, expectNoChanges: true, ...out })).rejects.toThrow();
    const refresh = await stack.refresh(out);
    expect(refresh.summary.resourceChanges).toMatchObject({ delete: 1, update: 1 });
    const preview = await stack.preview(out);
    expect(preview.changeSummary).toMatchObject({ create: 1, update: 1 });
    const up = await stack.up(out);
    const ips = up.outputs.ips.value as string[];
    expect(ips[1]).toBe(before[1]);
    expect(ips[0]).not.toBe(before[0]);
    expect(up.outputs.rdns.value).toEqual(["ip1.mx1.acme.example", "ip2.mx1.acme.example"]);
    expect(bought(ledgerOf(id), "ip")).toHaveLength(6);
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });
  });

  test("the main IP's PTR: set to the host name on create, drift in refresh, restored by up, a new name set in place", async () => {
    const stack = await tenantStack("ptr", { mainRdns: "mx1.ptr.example" });
    const up = await stack.up(out);
    const main = up.outputs.mainIp.value as string;
    expect(sim.ptr(main)).toBe("mx1.ptr.example");
    expect(up.outputs.mainRdns.value).toBe("mx1.ptr.example");
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });

    sim.setRdnsByHand(KEY, main, "hwsrv-1.hostwindsdns.com");
    await expect(stack.preview({ refresh: true, expectNoChanges: true, ...out })).rejects.toThrow();
    const refresh = await stack.refresh(out);
    expect(refresh.summary.resourceChanges).toMatchObject({ update: 1 });
    const inState = (await stack.exportStack()).deployment.resources.find(
      (r: { type: string }) => r.type === "pulumi-nodejs:dynamic/hostwinds:Instance",
    );
    expect(inState.outputs.rdns).toBe("hwsrv-1.hostwindsdns.com");
    expect((await stack.preview(out)).changeSummary).toMatchObject({ update: 1 });
    await stack.up(out);
    expect(sim.ptr(main)).toBe("mx1.ptr.example");

    await stack.setConfig("mainRdns", { value: "mail.ptr.example" });
    const renamed = await stack.up(out);
    expect(renamed.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(sim.ptr(main)).toBe("mail.ptr.example");
    expect(bought(ledgerOf(up.outputs.serviceId.value as number), "server")).toHaveLength(1);
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });
  });

  test("faults (429 storms, 5xx, slow answers, a purchase answer lost) buy nothing twice", async () => {
    const stack = await tenantStack("faulty", { ipCount: "3" });
    sim.faults = { http429: 4, rateLimitBody: 2, http5xx: 2, slowMs: 40, dropAfterPurchase: 2 };
    const seen = logs.length;
    const up = await stack.up(out);
    sim.faults = {};
    // The first two purchases (the server, then an IP) lost their answers; both were settled by reading.
    const printed = logs.slice(seen).join("");
    expect(printed).toContain("the answer to the purchase was lost; looking for a new server in the account instead of buying again");
    expect(printed).toContain("the answer to the IP purchase was lost");
    const id = up.outputs.serviceId.value as number;
    const l = ledgerOf(id);
    expect(bought(l, "server")).toHaveLength(1);
    expect(bought(l, "ip")).toHaveLength(3);
    expect(accountIps(id).sort()).toEqual([up.outputs.mainIp.value, ...(up.outputs.ips.value as string[])].sort());
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });
  });

  test("the provider process killed mid-up: the next up takes over what was bought and buys nothing twice", async () => {
    const stack = await tenantStack("crashy", { ipCount: "4" });
    let ipPurchases = 0;
    let killed: number[] = [];
    sim.onRequest = (action) => {
      if (action === "add_ip" && ++ipPurchases === 2) {
        killed = descendantsMatching(process.pid, "dynamic-provider");
        for (const pid of killed) process.kill(pid, "SIGKILL");
      }
    };
    await expect(stack.up(out)).rejects.toThrow();
    sim.onRequest = undefined;
    expect(killed.length).toBeGreaterThan(0);
    const mark = await serverMarkOf(stack, "crashy");
    const serverIds = sim
      .inventory(KEY)
      .filter((i) => i.name.startsWith(mark))
      .map((i) => i.serviceId);
    expect(serverIds).toHaveLength(1);
    const id = serverIds[0];
    expect(bought(ledgerOf(id), "ip")).toHaveLength(2);

    const up = await stack.up(out);
    expect(up.outputs.serviceId.value).toBe(id);
    const l = ledgerOf(id);
    expect(bought(l, "server")).toHaveLength(1);
    expect(bought(l, "ip")).toHaveLength(4);
    expect(released(l, "ip")).toHaveLength(0);
    expect(accountIps(id).sort()).toEqual([up.outputs.mainIp.value, ...(up.outputs.ips.value as string[])].sort());
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });
  });

  test("a server bought but failed to build stays in state as created-but-failed, and destroy releases it", async () => {
    const stack = await tenantStack("broken");
    sim.faults = { failBuilds: 1 };
    await expect(stack.up(out)).rejects.toThrow(/was bought but is not up/);
    const inState = (await stack.exportStack()).deployment.resources.find(
      (r: { type: string }) => r.type === "pulumi-nodejs:dynamic/hostwinds:Instance",
    );
    const id = Number(inState.id);
    expect(sim.inventory(KEY).find((i) => i.serviceId === id)?.status).toBe("ERROR");
    await stack.destroy(out);
    expect(released(ledgerOf(id), "server")).toHaveLength(1);
  });

  test("adoption: an existing server and IP come under management without buying anything", async () => {
    const hand = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    await hand.buyInstance({ template: DEBIAN_12, planRid: 102, locationId: 2, billingCycle: "monthly", name: "legacy-box-7" });
    const server = await hand.waitFor(
      "legacy box",
      async () => {
        const i = (await hand.listInstances()).find((x) => x.srvrname === "legacy-box-7");
        return i?.status === "ACTIVE" ? i : undefined;
      },
      { initialDelayMs: 100 },
    );
    await hand.buySecondaryIp(server.serviceid);
    const ip = await hand.waitFor("legacy IP", async () => (await hand.listIps(server.serviceid)).find((i) => i.ip !== server.main_ip), {
      initialDelayMs: 100,
    });
    const purchasesBefore = sim.ledger(KEY).length;

    const stack = await tenantStack("legacy", { ipCount: "1", location: "2", plan: "102", adoptServiceId: String(server.serviceid) });
    await stack.setConfig("adoptIps", { value: JSON.stringify([ip.ip]) });
    const up = await stack.up(out);
    expect(sim.ledger(KEY).length).toBe(purchasesBefore);
    expect(up.outputs.serviceId.value).toBe(server.serviceid);
    expect(up.outputs.serverName.value).toBe(await serverMarkOf(stack, "legacy"));
    expect(up.outputs.ips.value).toEqual([ip.ip]);
    expect((await hand.listIps(server.serviceid)).find((i) => i.ip === ip.ip)?.rdns).toBe("ip1.mx1.legacy.example");
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });
  });

  test("a server of this stack's name already in the account is taken over if it matches, and named in a clear stop if not", async () => {
    const hand = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    const orphan = await tenantStack("orphan");
    const clash = await tenantStack("clash");
    const orphanMark = await serverMarkOf(orphan, "orphan");
    const clashMark = await serverMarkOf(clash, "clash");
    await hand.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name: orphanMark });
    await hand.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 3, billingCycle: "monthly", name: clashMark });
    const clashId = (await hand.listInstances()).find((i) => i.srvrname === clashMark)!.serviceid;
    const count = () => bought(sim.ledger(KEY), "server").length;
    const servers = count();

    const up = await orphan.up(out);
    expect(up.outputs.serverName.value).toBe(orphanMark);
    expect(count()).toBe(servers);

    const err = await clash.up(out).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(err?.message)).toContain(`server ${clashId} marked ${clashMark} is already in the account`);
    expect(String(err?.message)).toContain(`adoptServiceId: ${clashId}`);
    expect(count()).toBe(servers);
  });

  test("bad inputs fail check with one line per field, before any call to Hostwinds", async () => {
    const stack = await tenantStack("Bad_Tenant", { ipCount: "1" });
    await stack.setConfig("instanceOverrides", { value: JSON.stringify({ plan: "big", billingCycle: "weekly", sshKeys: [""] }) });
    const calls = [...sim.requests.values()].reduce((a, b) => a + b, 0);
    const err = await stack.preview(out).then(
      () => undefined,
      (e: Error) => e,
    );
    const text = String(err?.message);
    expect(text).toMatch(/tenant must be 1-32 lowercase letters/);
    expect(text).toMatch(/plan must be a number/);
    expect(text).toMatch(/billingCycle must be one of hourly, monthly/);
    expect(text).toMatch(/sshKeys\.0 SSH key names must not be empty/);
    expect([...sim.requests.values()].reduce((a, b) => a + b, 0)).toBe(calls);
  });

  test("without an API key the run stops with what to set, and buys nothing", async () => {
    const stack = await tenantStack("nokey");
    await stack.removeConfig("hostwinds:apiKey");
    const servers = sim.inventory(KEY).length;
    const err = await stack.up(out).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(err?.message)).toContain("pulumi config set --secret hostwinds:apiKey");
    expect(sim.inventory(KEY)).toHaveLength(servers);
  });

  test("destroy releases everything of the stack and nothing of another stack or account", async () => {
    const other = new HostwindsClient({ apiKey: OTHER_KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    await other.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name: "pm-acme-mx1" });
    const globex = await tenantStack("globex", { ipCount: "2" });
    const g = await globex.up(out);
    const acme = await tenantStack("acme");
    const acmeId = (await acme.outputs()).serviceId.value as number;
    const otherBefore = JSON.stringify(sim.inventory(OTHER_KEY));
    const globexIps = accountIps(g.outputs.serviceId.value as number);

    await acme.destroy(out);
    expect(sim.inventory(KEY).some((i) => i.serviceId === acmeId)).toBe(false);
    expect(released(ledgerOf(acmeId), "server")).toHaveLength(1);
    expect(JSON.stringify(sim.inventory(OTHER_KEY))).toBe(otherBefore);
    expect(accountIps(g.outputs.serviceId.value as number)).toEqual(globexIps);
    expect((await acme.exportStack()).deployment.resources ?? []).toHaveLength(0);
  });

  test("no API key, root password or config key in any state file or log", async () => {
    const hand = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    const secrets = [KEY];
    for (const i of await hand.listInstances()) secrets.push(i.password!, i.configkey!);
    const state = readAll(path.join(devDir, "backends", BACKEND));
    expect(state.length).toBeGreaterThan(1000);
    const text = state + logs.join("");
    for (const s of secrets) expect(text.includes(s) ? s : "absent").toBe("absent");
  });
});
