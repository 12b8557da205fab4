/**
 * Orders never bought twice, one writer per stack, and `--target` (issue 31 items 5, 6, 7, 8): the
 * SecondaryIp provider called as the engine calls it, against the Hostwinds stand-in over loopback.
 * Each "run" is a fresh copy of the provider modules (what a new provider process is), so what one
 * run learnt in memory never helps the next. The stand-in's ledger judges what was bought.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HostwindsSim, IMAGES } from "../../scripts/dev/standins/hostwinds";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { serverName } from "../../providers/hostwinds/inputs";
import { splitName } from "../../providers/hostwinds/orders";
import type { SecondaryIpInputs } from "../../providers/hostwinds/inputs";
import type { SecondaryIpOutputs } from "../../providers/hostwinds/secondary-ip";
import { Leases, fileLeaseStore, holderAlive } from "../../providers/lib/lease";

const KEY = "sim-key-orders-0123456789";
const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;

/** The provider's methods as the engine calls them (outs always set by this provider). */
interface Provider {
  configure(req: unknown): Promise<void>;
  create(i: SecondaryIpInputs): Promise<{ id: string; outs: SecondaryIpOutputs }>;
  diff(id: string, olds: SecondaryIpOutputs, news: SecondaryIpInputs): Promise<unknown>;
  update(id: string, olds: SecondaryIpOutputs, news: SecondaryIpInputs): Promise<{ outs: SecondaryIpOutputs }>;
}
interface Run {
  ip: Provider;
  session: typeof import("../../providers/hostwinds/session");
  end(): void;
}

describe("IP orders, the writer lease and --target against the stand-in", () => {
  let sim: HostwindsSim;
  let client: HostwindsClient;
  const backend = fs.mkdtempSync(path.join(os.tmpdir(), "pm-lease-"));
  const env = { ...process.env };
  const runs: Run[] = [];

  /** A fresh provider process configured like a stack's. */
  function run(settings: { ipTimeoutMs?: number } = {}): Run {
    let r!: Run;
    jest.isolateModules(() => {
      const ip = require("../../providers/hostwinds/secondary-ip").provider as Provider;
      const session = require("../../providers/hostwinds/session") as typeof import("../../providers/hostwinds/session");
      r = { ip, session, end: () => session.useLeases(undefined) };
    });
    const config: Record<string, string> = {
      "hostwinds:apiUrl": sim.url,
      "hostwinds:apiKey": KEY,
      "hostwinds:pollIntervalMs": "50",
      "hostwinds:requestsPerSecond": "0",
      "hostwinds:ipTimeoutMs": String(settings.ipTimeoutMs ?? 5_000),
    };
    void r.ip.configure({ config: { get: (k: string) => config[k] } } as never);
    runs.push(r);
    return r;
  }

  async function server(tenant: string, stack = tenant): Promise<number> {
    const name = serverName({ tenant, server: "mx1", stack, backend: "", project: "penguinmails-infra" });
    await client.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name });
    const found = await client.waitFor("the server", async () =>
      (await client.listInstances()).find((i) => i.srvrname === name && i.main_ip),
    );
    return found.serviceid;
  }
  const slot = (tenant: string, serviceId: number, k: number, siblings: number): SecondaryIpInputs => ({
    tenant,
    stack: tenant,
    slot: `mx1-ip${k}`,
    siblings: Array.from({ length: siblings }, (_, i) => `mx1-ip${i + 1}`),
    serviceId,
    rdns: `ip${k}.mx1.${tenant}.example`,
    retire: [],
  });
  const ipsBought = (serviceId: number) =>
    sim.ledger(KEY).filter((e) => e.kind === "ip" && e.event === "bought" && e.serviceId === serviceId);
  const journal = async (serviceId: number) => splitName((await client.getInstance(serviceId))!.srvrname).orders;

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 50, ipDelayMs: 100 }).start();
    client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    process.env.PULUMI_BACKEND_URL = `file://${backend}`;
  });
  afterAll(async () => {
    for (const r of runs) r.end();
    process.env = env;
    await sim.stop();
    fs.rmSync(backend, { recursive: true, force: true });
  });
  afterEach(() => {
    for (const r of runs.splice(0)) r.end();
    sim.faults = {};
    sim.onRequest = undefined;
    sim.setTiming({ ipDelayMs: 100 });
    sim.setWire({});
  });

  test("an order held past the run's wait leaves the slot pending and the run succeeding; later runs wait on that order and never buy again", async () => {
    const id = await server("hold");
    sim.setTiming({ ipDelayMs: 60_000 });
    const first = await run({ ipTimeoutMs: 500 }).ip.create(slot("hold", id, 1, 1));
    expect(first.outs).toMatchObject({ status: "purchasing", ip: "" });
    // The next run: one look at the same order, still pending, nothing bought.
    const second = run({ ipTimeoutMs: 500 });
    await second.ip.diff(first.id, first.outs, slot("hold", id, 1, 1));
    const again = await second.ip.update(first.id, first.outs, slot("hold", id, 1, 1));
    expect(again.outs).toMatchObject({ status: "purchasing", orderedAt: first.outs.orderedAt });
    expect(ipsBought(id)).toHaveLength(1);
    sim.fulfilHeldOrders(KEY, id);
    const third = run({ ipTimeoutMs: 500 });
    await third.ip.diff(first.id, first.outs, slot("hold", id, 1, 1));
    const done = await third.ip.update(first.id, first.outs, slot("hold", id, 1, 1));
    expect(done.outs.status).toBe("assigned");
    expect(done.outs.ip).toBe(ipsBought(id)[0].ip);
    expect(ipsBought(id)).toHaveLength(1);
    expect(await journal(id)).toEqual([]);
  });

  test("after a kill, an order recorded by the dead run and held longer than the IP timeout is waited on, not bought again (was: 2 IPs for 1 slot)", async () => {
    const id = await server("killed");
    sim.setTiming({ ipDelayMs: 60_000 });
    // The run that dies: its order is sent and journalled, its slot never reaches state.
    await run({ ipTimeoutMs: 500 }).ip.create(slot("killed", id, 1, 1));
    expect(await journal(id)).toHaveLength(1);
    const next = await run({ ipTimeoutMs: 500 }).ip.create(slot("killed", id, 1, 1));
    expect(next.outs).toMatchObject({ status: "purchasing", orderAnswered: false });
    expect(ipsBought(id)).toHaveLength(1);
    expect(await journal(id)).toHaveLength(1);
  });

  test("each order's wait is its own: after a wait that ran out, the next purchase is looked for at once (no lastIpDelayMs)", async () => {
    const held = await server("sized");
    const other = await server("sized2");
    sim.setTiming({ ipDelayMs: 60_000 });
    const r = run({ ipTimeoutMs: 3_000 });
    expect((await r.ip.create(slot("sized", held, 1, 1))).outs.status).toBe("purchasing");
    sim.setTiming({ ipDelayMs: 0 });
    let boughtAt = 0;
    let firstLook = 0;
    sim.onRequest = (a) => {
      if (a === "add_ip") boughtAt = Date.now();
      else if (a === "get_instance_ips" && boughtAt && !firstLook) firstLook = Date.now();
    };
    const second = await r.ip.create(slot("sized2", other, 1, 1));
    expect(second.outs.status).toBe("assigned");
    // The old code waited about as long as the previous (timed-out) wait, 3 s, before looking.
    expect(firstLook - boughtAt).toBeLessThan(1_500);
  });

  test("a 503 on a purchase leaves an order of unknown outcome that ranks last: it never takes the IP another slot's answered order bought", async () => {
    const id = await server("phantom");
    const r = run({ ipTimeoutMs: 500 });
    // The purchase is answered 503 and not processed (the stand-in's 5xx fault): a phantom order.
    let faulted = false;
    sim.onRequest = (a) => {
      if (a === "edit_instance" && !faulted) faulted = Boolean((sim.faults.http5xx = 1));
    };
    // Both slots are created at once, as the engine does; the first purchase sent gets the 503.
    const both = await Promise.all([r.ip.create(slot("phantom", id, 1, 2)), r.ip.create(slot("phantom", id, 2, 2))]);
    sim.onRequest = undefined;
    const a = both.find((x) => x.outs.status === "purchasing")!;
    const b = both.find((x) => x.outs.status === "assigned")!;
    expect(a.outs).toMatchObject({ status: "purchasing", orderAnswered: false });
    expect(b.outs.ip).toBe(ipsBought(id)[0].ip);
    expect(ipsBought(id)).toHaveLength(1);
    // The next run: the phantom slot looks, finds the IP held by its sibling, and stays pending.
    const next = run({ ipTimeoutMs: 500 });
    const slotOfA = a.outs.slot === "mx1-ip1" ? 1 : 2;
    await next.ip.diff(b.id, b.outs, slot("phantom", id, 3 - slotOfA, 2));
    await next.ip.diff(a.id, a.outs, slot("phantom", id, slotOfA, 2));
    expect((await next.ip.update(a.id, a.outs, slot("phantom", id, slotOfA, 2))).outs.status).toBe("purchasing");
    expect(ipsBought(id)).toHaveLength(1);
  });

  test("two engines on one stack: the second is refused before buying while the first lives (even after `pulumi cancel`), and may buy once it is gone", async () => {
    const id = await server("twice");
    const first = run();
    await first.ip.create(slot("twice", id, 1, 1));
    const second = run();
    second.session.useLeases(
      new Leases(fileLeaseStore(path.join(backend, ".pulumi", "penguinmails", "leases")), { waitMs: 300, pollMs: 50 }),
    );
    const journalBefore = await journal(id);
    await expect(second.ip.create({ ...slot("twice", id, 2, 1), siblings: [] })).rejects.toThrow(
      /another engine is writing this stack .*Nothing was bought/,
    );
    await expect(second.ip.create({ ...slot("twice", id, 2, 1), siblings: [] })).rejects.toThrow(
      /Do not `pulumi cancel` while it is alive/,
    );
    expect(ipsBought(id)).toHaveLength(1);
    expect(await journal(id)).toEqual(journalBefore);
    first.end();
    expect((await second.ip.create({ ...slot("twice", id, 2, 1), siblings: [] })).outs.status).toBe("assigned");
    expect(ipsBought(id)).toHaveLength(2);
  });

  test("a lease left by a process that died is free at once on the same host, and after its heartbeat ages elsewhere", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pm-lease-dead-"));
    const old = new Date().toISOString();
    const dead = { id: "dead", pid: 2 ** 22 + 12345, host: os.hostname(), since: old, heartbeatAt: old, doing: "buy" };
    expect(holderAlive(dead)).toBe(false);
    expect(holderAlive({ ...dead, host: "elsewhere" })).toBe(true);
    expect(holderAlive({ ...dead, host: "elsewhere", heartbeatAt: new Date(Date.now() - 60_000).toISOString() })).toBe(false);
    fs.mkdirSync(path.join(dir, "p"), { recursive: true });
    fs.writeFileSync(path.join(dir, "p", "s.json"), JSON.stringify(dead));
    const l = new Leases(fileLeaseStore(dir), { waitMs: 0 });
    await l.acquire("p", "s", "buy");
    expect(JSON.parse(fs.readFileSync(path.join(dir, "p", "s.json"), "utf8")).pid).toBe(process.pid);
    l.releaseAll();
    expect(fs.existsSync(path.join(dir, "p", "s.json"))).toBe(false);
  });

  test("--target a new slot when Hostwinds reports no rDNS: it buys its own IP and never takes or re-labels a sibling's", async () => {
    const id = await server("target");
    sim.setWire({ rdnsInIpList: false });
    const full = run();
    const [a, b] = await Promise.all([full.ip.create(slot("target", id, 1, 2)), full.ip.create(slot("target", id, 2, 2))]);
    full.end();
    const rdnsBefore = sim.inventory(KEY).find((i) => i.serviceId === id);
    // `pulumi up --target` the third slot: its siblings are never diffed in that run.
    const c = await run().ip.create(slot("target", id, 3, 3));
    expect(c.outs.status).toBe("assigned");
    expect([a.outs.ip, b.outs.ip]).not.toContain(c.outs.ip);
    expect(ipsBought(id)).toHaveLength(3);
    expect(sim.inventory(KEY).find((i) => i.serviceId === id)?.ips).toEqual([...rdnsBefore!.ips, c.outs.ip]);
  });
});
