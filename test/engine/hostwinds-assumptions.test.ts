/**
 * The Hostwinds provider without what no public source settles (providers/hostwinds/wire.ts
 * ASSUMPTIONS): the stand-in with rDNS gone from get_instance_ips, the purchase action renamed and
 * the purchase answer naming the IP; IP orders Hostwinds holds for longer than a run waits
 * (pending orders, across stand-in restarts); a revoked key; and the CLI killed at several points
 * of an up with server names rewritten by the panel. Then every assumption served the other way
 * (scripts/dev/standins/hostwinds.ts WireAssumptions), the lifecycle in each: either it works, or it
 * stops before any purchase naming the assumption. The stand-in's ledger is the judge: exactly one
 * purchase per slot, every time.
 *
 * Each test has a stand-in and a stack of its own, and most of an engine run is waiting (the
 * stand-in's build and IP delays, the CLI and plugins starting), so the tests that kill no process
 * run side by side (`test.concurrent`, Jest's maxConcurrency at a time). Jest runs a describe's
 * concurrent tests together as one step, never beside its other tests: the kills
 * (`descendantsMatching` on this process) run alone and reach only their own run's processes. The
 * pending order runs alone too: its held order (25 s) must outlast two ups, which side by side at
 * load 20 it did not.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir, localStack, programDir } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim, IMAGES, LedgerEntry, WireAssumptions } from "../../scripts/dev/standins/hostwinds";
import { descendantsMatching } from "./harness";

const KEY = "sim-key-assume-0123456789";
const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;
const DEBIAN_13 = IMAGES.find((i) => i.slug === "debian-13")!.uuid;
const BACKEND = "hostwinds-assumptions";

jest.setTimeout(15 * 60_000);

describe("hostwinds provider without the assumed fields", () => {
  const dir = programDir("hostwinds-provider", "test/fixtures/hostwinds");
  const stacks: Stack[] = [];
  const logs: string[] = [];
  const out = { onOutput: (s: string) => logs.push(s), onError: (s: string) => logs.push(s) };
  const sims: HostwindsSim[] = [];
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "hw-assume-"));

  afterAll(async () => {
    for (const s of stacks) await s.workspace.removeStack(s.name, { force: true }).catch(() => undefined);
    for (const s of sims) await s.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  async function startSim(o: ConstructorParameters<typeof HostwindsSim>[0]): Promise<HostwindsSim> {
    const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 300, ipDelayMs: 300, ...o }).start();
    sims.push(sim);
    return sim;
  }
  async function tenantStack(sim: HostwindsSim, tenant: string, config: Record<string, string>): Promise<Stack> {
    const stack = await localStack(`${tenant}-${process.pid}`, dir, { backend: BACKEND });
    stacks.push(stack);
    await stack.setAllConfig({
      ...sim.stackConfig(KEY),
      tenant: { value: tenant },
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, { value: v }])),
    });
    return stack;
  }
  const ipsBought = (l: LedgerEntry[]) => l.filter((e) => e.kind === "ip" && e.event === "bought");
  const ipsReleased = (l: LedgerEntry[]) => l.filter((e) => e.kind === "ip" && e.event === "released");
  const onServer = (sim: HostwindsSim, id: number) => sim.inventory(KEY).find((i) => i.serviceId === id)?.ips ?? [];
  const ledgerOf = (sim: HostwindsSim, id: number) => sim.ledger(KEY).filter((e) => e.serviceId === id);

  test("no rDNS in get_instance_ips, another purchase action, an IP in the answer: buy, refresh, drift, crash and rerun, release", async () => {
    const sim = await startSim({ wire: { rdnsInIpList: false, purchaseAnswerIp: true, ipPurchaseAction: "order_ip" } });
    const stack = await tenantStack(sim, "norndns", {
      ipCount: "3",
      "hostwinds:ipPurchaseAction": "order_ip",
      mainRdns: "mx1.norndns.example",
    });
    const up = await stack.up(out);
    const id = up.outputs.serviceId.value as number;
    // The main IP's PTR is set though it can never be read back.
    expect(sim.ptr(up.outputs.mainIp.value as string)).toBe("mx1.norndns.example");
    expect(ipsBought(ledgerOf(sim, id))).toHaveLength(3);
    expect(new Set(up.outputs.ips.value as string[]).size).toBe(3);
    // No rDNS to read is no drift: the stack keeps what it set (the main IP's as well, changed by hand or not).
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });
    sim.setRdnsByHand(KEY, up.outputs.mainIp.value as string, "hwsrv-9.hostwindsdns.com");
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });

    // Drift: an IP released in the panel is seen, and replaced once.
    const before = up.outputs.ips.value as string[];
    sim.releaseIpByHand(KEY, before[0]);
    expect((await stack.refresh(out)).summary.resourceChanges).toMatchObject({ delete: 1 });
    await stack.up(out);
    expect(ipsBought(ledgerOf(sim, id))).toHaveLength(4);
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });

    // Crash: the provider killed right after the first of two new purchases; the rerun buys the other only.
    await stack.setConfig("ipCount", { value: "5" });
    let killed: number[] = [];
    sim.onRequest = (action) => {
      if (action === "order_ip" && !killed.length) {
        killed = descendantsMatching(process.pid, "dynamic-provider");
        for (const pid of killed) process.kill(pid, "SIGKILL");
      }
    };
    await expect(stack.up(out)).rejects.toThrow();
    sim.onRequest = undefined;
    expect(killed.length).toBeGreaterThan(0);
    const rerun = await stack.up(out);
    const ips = rerun.outputs.ips.value as string[];
    expect(ipsBought(ledgerOf(sim, id))).toHaveLength(6);
    expect(new Set(ips).size).toBe(5);
    expect(onServer(sim, id).sort()).toEqual([rerun.outputs.mainIp.value, ...ips].sort());
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });

    // Release: scale down, then destroy; every IP released once.
    await stack.setConfig("ipCount", { value: "2" });
    await stack.up(out);
    expect(ipsReleased(ledgerOf(sim, id))).toHaveLength(1 + 3);
    await stack.destroy(out);
    const l = ledgerOf(sim, id);
    expect(ipsReleased(l)).toHaveLength(6);
    expect(l.filter((e) => e.kind === "server" && e.event === "released")).toHaveLength(1);
  });

  test("a pending IP order survives two ups and a stand-in restart, then is assigned; one purchase in the ledger", async () => {
    const stateFile = path.join(stateDir, "hostwinds.json");
    // The order is held until the test fulfils it (an hour is never reached), however long the ups take.
    const HELD_MS = 60 * 60_000;
    let sim = await startSim({ stateFile, ipDelayMs: HELD_MS });
    const stack = await tenantStack(sim, "pending", { ipCount: "1", "hostwinds:ipTimeoutMs": "1000" });
    const first = await stack.up(out);
    const id = first.outputs.serviceId.value as number;
    expect(first.outputs.ipStatus.value).toEqual(["purchasing"]);
    expect(first.outputs.ips.value).toEqual([""]);
    const second = await stack.up(out);
    expect(second.outputs.ipStatus.value).toEqual(["purchasing"]);
    expect(ipsBought(sim.ledger(KEY))).toHaveLength(1);

    // The stand-in restarts from its state file: the order is still held.
    const held = sim.heldOrders(KEY);
    expect(held).toHaveLength(1);
    await sim.stop();
    sim = await startSim({ stateFile, ipDelayMs: HELD_MS });
    await stack.setConfig("hostwinds:apiUrl", { value: sim.url });
    expect(sim.heldOrders(KEY)).toEqual(held);
    // Hostwinds assigns it now.
    sim.fulfilHeldOrders(KEY, id);

    const third = await stack.up(out);
    expect(third.outputs.ipStatus.value).toEqual(["assigned"]);
    expect(third.outputs.ips.value).toEqual([held[0].ip]);
    expect(ipsBought(sim.ledger(KEY))).toHaveLength(1);
    await stack.preview({ refresh: true, expectNoChanges: true, ...out });

    // A revoked key is not a gone server: refresh stops, says why, and state is unchanged.
    const hostwindsState = async () =>
      JSON.stringify(
        ((await stack.exportStack()).deployment.resources as Array<{ type: string; id: string; outputs: unknown }>)
          .filter((r) => r.type.includes("hostwinds"))
          .map((r) => [r.id, r.outputs]),
      );
    const state = await hostwindsState();
    sim.revokeKey(KEY);
    const err = await stack.refresh(out).then(
      () => undefined,
      (e: Error) => e,
    );
    sim.revokeKey(KEY, false);
    expect(String(err?.message)).toContain("the API key cannot list the account either");
    expect(String(err?.message)).toContain("nothing was changed");
    expect(await hostwindsState()).toBe(state);
    expect(sim.inventory(KEY).find((i) => i.serviceId === id)).toBeDefined();
    await stack.destroy(out);
  });

  test.concurrent(
    "one IP, one slot: two slots claiming one address is drift; the fix buys nothing and scale-down releases only the unheld one",
    async () => {
      const sim = await startSim({ wire: { rdnsInIpList: false } });
      const stack = await tenantStack(sim, "oneslot", { ipCount: "2" });
      const up = await stack.up(out);
      const id = up.outputs.serviceId.value as number;
      const [a, b] = up.outputs.ips.value as string[];
      // State as an older run could leave it: slot 2 claims slot 1's address.
      const exported = await stack.exportStack();
      const slot2 = (exported.deployment.resources as Array<{ urn: string; id: string; outputs: { ip: string } }>).find((r) =>
        r.urn.endsWith("::mx1-ip2"),
      )!;
      slot2.id = a;
      slot2.outputs.ip = a;
      await stack.importStack(exported);
      await expect(stack.preview({ refresh: true, expectNoChanges: true, ...out })).rejects.toThrow();
      expect((await stack.refresh(out)).summary.resourceChanges).toMatchObject({ delete: 1 });
      const fixed = await stack.up(out);
      expect((fixed.outputs.ips.value as string[]).slice().sort()).toEqual([a, b].sort());
      expect(ipsBought(ledgerOf(sim, id))).toHaveLength(2);
      await stack.preview({ refresh: true, expectNoChanges: true, ...out });
      await stack.setConfig("ipCount", { value: "1" });
      const down = await stack.up(out);
      const kept = (down.outputs.ips.value as string[])[0];
      expect(ipsReleased(ledgerOf(sim, id)).map((e) => e.ip)).toEqual([[a, b].find((x) => x !== kept)]);
      expect(onServer(sim, id).sort()).toEqual([down.outputs.mainIp.value, kept].sort());
      await stack.destroy(out);
    },
  );

  test.each([
    ["the first IP purchase", "add_ip", 1],
    ["the journal write before the second purchase", "edit_instance", 3],
    ["a look for the first IP while it is held", "get_instance_ips", 2],
  ])(
    "the CLI killed at %s of an up with a slow IP, names rewritten by the panel: the rerun buys exactly one IP per slot",
    async (_what, action, nth) => {
      // Names as a panel might rewrite them (ASSUMPTIONS: server names): the marks are made to survive it.
      const sim = await startSim({ ipDelayMs: 2_500, wire: { serverNames: "panel" } });
      const tenant = `kill-${action.replace(/_/g, "")}`;
      // The IP arrives 2.5 s after its order; a run waits for it up to 60 s (returning as soon as it is there), as a busy machine may need.
      const stack = await tenantStack(sim, tenant, { ipCount: "2", "hostwinds:ipTimeoutMs": "60000" });
      await stack.setConfig("ipCount", { value: "0" });
      const server = await stack.up(out);
      const id = server.outputs.serviceId.value as number;
      await stack.setConfig("ipCount", { value: "2" });
      let seen = 0;
      let killed: number[] = [];
      sim.onRequest = (a) => {
        if (a === action && ++seen === nth && !killed.length) {
          killed = descendantsMatching(process.pid, "pulumi");
          for (const pid of killed) process.kill(pid, "SIGKILL");
        }
      };
      await expect(stack.up(out)).rejects.toThrow();
      sim.onRequest = undefined;
      expect(killed.length).toBeGreaterThan(0);
      // The recovery: a kill mid-write can leave the checkpoint's `.attrs` sidecar empty (the file backend
      // writes it apart from the checkpoint, not atomically), which Pulumi then cannot load; an empty
      // sidecar holds nothing and goes. Then the dead run's lock, then its pending creates (the order
      // journal settles whatever they bought).
      const stacksDir = path.join(devDir, "backends", BACKEND, ".pulumi", "stacks", "hostwinds-provider");
      for (const f of fs.readdirSync(stacksDir))
        if (f.startsWith(`${tenant}-${process.pid}.json`) && f.endsWith(".attrs") && fs.statSync(path.join(stacksDir, f)).size === 0)
          fs.rmSync(path.join(stacksDir, f));
      await stack.cancel();
      await stack.refresh({ clearPendingCreates: true, ...out });
      const up = await stack.up(out);
      // A kill between the journal write and the purchase leaves an order nobody can say was sent: it
      // is never taken as gone by a timeout (issue 31), so its slot stays pending instead of buying again.
      const ips = (up.outputs.ips.value as string[]).filter(Boolean);
      const pending = (up.outputs.ipStatus.value as string[]).filter((x) => x === "purchasing").length;
      expect(ipsBought(ledgerOf(sim, id))).toHaveLength(ips.length);
      expect(ips.length + pending).toBe(2);
      expect(ipsReleased(ledgerOf(sim, id))).toHaveLength(0);
      expect(new Set(ips).size).toBe(ips.length);
      expect(onServer(sim, id).sort()).toEqual([up.outputs.mainIp.value, ...ips].sort());
      if (!pending) await stack.preview({ refresh: true, expectNoChanges: true, ...out });
    },
  );

  test.each([
    ["rewritten by the panel", "panel"],
    ["ignored by add_instance", "ignored"],
  ] as const)(
    "the provider killed right after the server purchase, names %s: the rerun never buys a second server",
    async (_what, serverNames) => {
      const sim = await startSim({ buildMs: 1_500, wire: { serverNames } });
      const stack = await tenantStack(sim, `killbuy-${serverNames}`, { ipCount: "1" });
      let killed: number[] = [];
      sim.onRequest = (action) => {
        if (action === "add_instance" && !killed.length) {
          killed = descendantsMatching(process.pid, "dynamic-provider");
          for (const pid of killed) process.kill(pid, "SIGKILL");
        }
      };
      await expect(stack.up(out)).rejects.toThrow();
      sim.onRequest = undefined;
      expect(killed.length).toBeGreaterThan(0);
      await stack.cancel().catch(() => undefined);
      await stack.refresh({ clearPendingCreates: true, ...out });
      const serversBought = () => sim.ledger(KEY).filter((e) => e.kind === "server" && e.event === "bought");
      if (serverNames === "ignored") {
        // The name Hostwinds gave it is no mark, and the run died before marking it by id: the rerun refuses, naming it.
        const id = serversBought()[0].serviceId;
        await expect(stack.up(out)).rejects.toThrow(
          new RegExp(`server ${id} .*carries no owner mark and fits this server's order.*adoptServiceId`),
        );
        expect(serversBought()).toHaveLength(1);
        await stack.setConfig("adoptServiceId", { value: String(id) });
      }
      const up = await stack.up(out);
      expect(serversBought()).toHaveLength(1);
      expect(serversBought()[0].serviceId).toBe(up.outputs.serviceId.value);
      expect(ipsBought(ledgerOf(sim, up.outputs.serviceId.value as number))).toHaveLength(1);
      await stack.preview({ refresh: true, expectNoChanges: true, ...out });
      await stack.destroy(out);
    },
  );

  /**
   * Each assumption served the other way. `config`: what the tenant's config does about it (the
   * image as a UUID, the purchase action's name). `upgrade`: what the plan change must end in.
   */
  const MODES: Array<[string, WireAssumptions, Record<string, string>, "in place" | RegExp]> = [
    ["1. reinstall gives a new root password", { reinstallKeepsPassword: false }, {}, "in place"],
    [
      "2. the IP purchase action is named otherwise",
      { ipPurchaseAction: "order_ip" },
      { "hostwinds:ipPurchaseAction": "order_ip" },
      "in place",
    ],
    ["3. no rDNS in get_instance_ips", { rdnsInIpList: false }, {}, "in place"],
    ["4. the purchase answer names the IP", { purchaseAnswerIp: true }, {}, "in place"],
    ["5. get_public_images answers another shape (image given as a UUID)", { images: "other" }, { image: DEBIAN_12 }, "in place"],
    ["6. no get_ssh_keys", { sshKeyList: false }, {}, "in place"],
    ["7. get_locations answers another shape", { locations: "other" }, {}, "in place"],
    ["8. product_id is not the price list's id", { productIdIsPlanId: false }, {}, /ASSUMPTIONS: product_id.*Nothing was bought/],
    ["10. server names rewritten by the panel", { serverNames: "panel" }, {}, "in place"],
    ["10. server names ignored by add_instance", { serverNames: "ignored" }, {}, "in place"],
    ["11. an upgrade needs no confirmation", { upgradeConfirm: false }, {}, "in place"],
  ];

  test.concurrent.each(MODES)(
    "%s: up, refresh, plan change, image change (a reinstall in place), scale, destroy; one purchase per slot",
    async (what, wire, config, upgrade) => {
      const sim = await startSim({ wire });
      const tenant = `mode-${what.split(".")[0]}-${Object.values(wire)
        .join("")
        .replace(/[^a-z0-9]/gi, "")
        .toLowerCase()
        .slice(0, 12)}`;
      const stack = await tenantStack(sim, tenant, { ipCount: "2", plan: "101", ...config });
      const up = await stack.up(out);
      const id = up.outputs.serviceId.value as number;
      const ips = up.outputs.ips.value as string[];
      expect(sim.ledger(KEY).filter((e) => e.kind === "server" && e.event === "bought")).toHaveLength(1);
      expect(ipsBought(ledgerOf(sim, id))).toHaveLength(2);
      expect(sim.inventory(KEY).find((i) => i.serviceId === id)?.name).toBe(up.outputs.serverName.value);
      await stack.preview({ refresh: true, expectNoChanges: true, ...out });

      // A plan change: the same server upgraded, its IPs kept; or a stop before paying that names the assumption.
      await stack.setConfig("plan", { value: "102" });
      const before = sim.ledger(KEY).length;
      if (upgrade === "in place") {
        const upgraded = await stack.up(out);
        expect(upgraded.outputs.serviceId.value).toBe(id);
        expect(upgraded.outputs.ips.value).toEqual(ips);
        expect(
          sim
            .ledger(KEY)
            .slice(before)
            .map((e) => `${e.kind} ${e.event}`),
        ).toEqual(["server upgraded"]);
        await stack.preview({ refresh: true, expectNoChanges: true, ...out });
      } else {
        await expect(stack.up(out)).rejects.toThrow(upgrade);
        expect(sim.ledger(KEY)).toHaveLength(before);
        await stack.setConfig("plan", { value: "101" });
      }

      // The image: first recorded as the one it was bought with (a create, nothing reinstalled), then
      // changed: a reinstall of the same server (one ledger entry), its IPs kept.
      const bought = config.image ?? "debian-12";
      await stack.setConfig("osImage", { value: bought });
      const recorded = await stack.up(out);
      expect([recorded.summary.resourceChanges, sim.ledger(KEY).length]).toEqual([
        expect.objectContaining({ create: 1 }),
        before + (upgrade === "in place" ? 1 : 0),
      ]);
      expect(recorded.summary.resourceChanges).not.toHaveProperty("replace");
      await stack.setConfig("osImage", { value: config.image ? DEBIAN_13 : "debian-13" });
      const seen = logs.length;
      const reimaged = await stack.up(out);
      expect([reimaged.outputs.serviceId.value, reimaged.outputs.ips.value]).toEqual([id, recorded.outputs.ips.value]);
      expect(reimaged.outputs.image.value).toBe(DEBIAN_13);
      expect(
        sim
          .ledger(KEY)
          .filter((e) => e.event === "reinstalled")
          .map((e) => e.serviceId),
      ).toEqual([id]);
      expect(sim.ledger(KEY).filter((e) => e.kind === "server" && e.event === "bought")).toHaveLength(1);
      if (wire.reinstallKeepsPassword === false)
        expect(logs.slice(seen).join("")).toMatch(/has a new root password after the reinstall \(ASSUMPTIONS: reinstall/);
      await stack.preview({ refresh: true, expectNoChanges: true, ...out });

      await stack.setConfig("ipCount", { value: "3" });
      const more = await stack.up(out);
      expect(ipsBought(ledgerOf(sim, id))).toHaveLength(3);
      expect(new Set(more.outputs.ips.value as string[]).size).toBe(3);
      await stack.destroy(out);
      const l = ledgerOf(sim, id);
      expect(ipsReleased(l)).toHaveLength(3);
      expect(l.filter((e) => e.kind === "server" && e.event === "released")).toHaveLength(1);
    },
  );

  test.concurrent.each([
    ["another shape", "other"],
    ["no such action", "absent"],
  ] as const)(
    "5. get_public_images answers %s and the image is a name: the run stops before any purchase naming the assumption",
    async (_what, images) => {
      const sim = await startSim({ wire: { images } });
      const stack = await tenantStack(sim, `images-${images}`, { ipCount: "1" });
      await expect(stack.up(out)).rejects.toThrow(/ASSUMPTIONS: "get_public_images answers a list of \{uuid, name\}".*Nothing was bought/);
      expect(sim.ledger(KEY)).toEqual([]);
    },
  );

  test.concurrent(
    "2. the IP purchase action is named otherwise and the setting is not: the IP purchase stops, naming the assumption, nothing bought twice",
    async () => {
      const sim = await startSim({ wire: { ipPurchaseAction: "order_ip" } });
      const stack = await tenantStack(sim, "ipaction", { ipCount: "1" });
      await expect(stack.up(out)).rejects.toThrow(/ASSUMPTIONS: the secondary-IP purchase action\); nothing was bought/);
      expect(sim.ledger(KEY).filter((e) => e.kind === "ip")).toEqual([]);
      await stack.setConfig("hostwinds:ipPurchaseAction", { value: "order_ip" });
      const up = await stack.up(out);
      expect(ipsBought(sim.ledger(KEY))).toHaveLength(1);
      expect(sim.ledger(KEY).filter((e) => e.kind === "server" && e.event === "bought")).toHaveLength(1);
      await stack.destroy(out);
      expect(up.outputs.ips.value).toHaveLength(1);
    },
  );
});
