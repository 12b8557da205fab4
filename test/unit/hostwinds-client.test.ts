/** The client against the Hostwinds stand-in over real HTTP on loopback. */
import { HostwindsClient, OutcomeUnknownError } from "../../providers/hostwinds/client";
import { HostwindsError } from "../../providers/hostwinds/errors";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AddressesExhaustedError, DOCUMENTATION_ADDRESSES, HostwindsSim, documentationIp } from "../../scripts/dev/standins/hostwinds";
import { IMAGES } from "../../scripts/dev/standins/hostwinds";
import type { ServerHosts } from "../../scripts/dev/standins/ssh-host";
const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;

const KEY = "sim-key-alpha";
const OTHER = "sim-key-bravo";

describe("HostwindsClient against the stand-in", () => {
  let sim: HostwindsSim;
  const lines: string[] = [];
  const client = (key = KEY, extra = {}) =>
    new HostwindsClient({
      apiKey: key,
      apiUrl: sim.url,
      requestsPerSecond: 0,
      backoffBaseMs: 20,
      backoffCapMs: 200,
      log: (l) => lines.push(l),
      ...extra,
    });

  beforeAll(async () => {
    sim = await new HostwindsSim({ buildMs: 150, ipDelayMs: 100 }).start();
  });
  afterAll(() => sim.stop());
  beforeEach(() => {
    sim.faults = {};
  });

  const buy = (c: HostwindsClient, name: string) =>
    c.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name });

  const waitActive = (c: HostwindsClient, name: string) =>
    c.waitFor(
      `server ${name} to become ACTIVE`,
      async () => {
        const i = (await c.listInstances()).find((x) => x.srvrname === name);
        return i?.status === "ACTIVE" ? i : undefined;
      },
      { initialDelayMs: 50 },
    );

  async function buyActive(c: HostwindsClient, name: string) {
    await buy(c, name);
    return waitActive(c, name);
  }

  test("catalog: locations, unmanaged plans by rid (id and rid apart), images by UUID", async () => {
    const c = client();
    expect((await c.locations()).map((l) => l.id)).toEqual([1, 2, 3]);
    const plans = await c.priceList();
    // get_price_list defaults to managed plans; the client asks for unmanaged ones.
    expect(plans.map((p) => p.name).every((n) => n.startsWith("Unmanaged"))).toBe(true);
    expect(plans.find((p) => p.rid === 101)).toMatchObject({ id: 1, monthly: 4.99 });
    expect((await c.images()).find((i) => i.uuid === DEBIAN_12)?.name).toBe("Debian 12");
  });

  test("buy a server: no id in the answer, BUILD without an IP, then ACTIVE with one", async () => {
    const c = client();
    await buy(c, "t-build");
    const early = (await c.listInstances()).find((i) => i.srvrname === "t-build")!;
    expect(early.status).toBe("BUILD");
    expect(early.main_ip).toBeUndefined();
    const active = await waitActive(c, "t-build");
    expect(active.main_ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await c.getInstance(active.serviceid)).toMatchObject({ serviceid: active.serviceid, status: "ACTIVE" });
  });

  test("secondary IPs: bought IP appears later, rDNS set, main IP cannot be deleted, delete is idempotent", async () => {
    const c = client();
    const srv = await buyActive(c, "t-ips");
    await c.buySecondaryIp(srv.serviceid);
    const ips = await c.waitFor(
      "the new IP",
      async () => {
        const list = await c.listIps(srv.serviceid);
        return list.length === 2 ? list : undefined;
      },
      { initialDelayMs: 30 },
    );
    const extra = ips.find((i) => i.ip !== srv.main_ip)!;
    await c.setRdns(srv.serviceid, extra.ip, "mail1.example.com");
    expect((await c.listIps(srv.serviceid)).find((i) => i.ip === extra.ip)?.rdns).toBe("mail1.example.com");
    await expect(c.deleteIp(srv.serviceid, srv.main_ip!)).rejects.toThrow(/main IP cannot be removed/);
    expect(await c.deleteIp(srv.serviceid, extra.ip)).toBe(true);
    expect(await c.deleteIp(srv.serviceid, extra.ip)).toBe(false);
    const ledger = sim.ledger(KEY).filter((e) => e.serviceId === srv.serviceid);
    expect(ledger.map((e) => `${e.kind}:${e.event}`)).toEqual(["server:bought", "ip:bought", "ip:released"]);
  });

  test("rename, terminate, and terminate again is 'already gone'", async () => {
    const c = client();
    const srv = await buyActive(c, "t-term");
    await c.renameInstance(srv.serviceid, "t-term-renamed");
    expect((await c.getInstance(srv.serviceid))?.srvrname).toBe("t-term-renamed");
    expect(await c.terminate(srv.serviceid)).toBe(true);
    expect(await c.terminate(srv.serviceid)).toBe(false);
    expect(await c.getInstance(srv.serviceid)).toBeUndefined();
  });

  test("one account cannot see or touch another's servers", async () => {
    const mine = await buyActive(client(), "t-mine");
    const other = client(OTHER);
    expect((await other.listInstances()).map((i) => i.serviceid)).not.toContain(mine.serviceid);
    expect(await other.getInstance(mine.serviceid)).toBeUndefined();
    expect(await other.terminate(mine.serviceid)).toBe(false);
    expect(await client().getInstance(mine.serviceid)).toBeDefined();
  });

  test("unknown key: Not Authorized!, not retried, key absent from the message", async () => {
    const c = client("not-a-real-key-123456");
    const err = await c.listInstances().catch((e) => e);
    expect(err).toBeInstanceOf(HostwindsError);
    expect(err.message).toBe("Hostwinds get_instances: Not Authorized!");
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain("not-a-real-key");
  });

  test("unknown action: Invalid Action.", async () => {
    await expect(client().send("no_such_action", "read", {})).rejects.toThrow("Hostwinds no_such_action: Invalid Action.");
  });

  test("a 429 storm ends in success without a doubled purchase", async () => {
    const c = client();
    const before = sim.ledger(KEY).length;
    sim.faults = { http429: 3, rateLimitBody: 2 };
    await buy(c, "t-storm");
    const bought = sim
      .ledger(KEY)
      .slice(before)
      .filter((e) => e.event === "bought");
    expect(bought).toHaveLength(1);
    expect(sim.faults.http429).toBe(0);
  }, 30_000);

  test("rate-limit answers are bounded by time, not by the attempt count", async () => {
    sim.faults = { rateLimitBody: 5 };
    expect((await client(KEY, { maxAttempts: 2 }).locations()).length).toBe(3);
    sim.faults = { rateLimitBody: 50 };
    const err = await client(KEY, { maxAttempts: 2, maxRetryMs: 300 })
      .locations()
      .catch((e) => e);
    expect(err.message).toMatch(/Too many requests.*gave up after \d+ attempts/);
  });

  test("5xx on reads is retried", async () => {
    sim.faults = { http5xx: 2 };
    expect((await client().locations()).length).toBe(3);
  });

  test("a purchase whose answer is lost is not re-sent: outcome unknown, ledger has exactly one", async () => {
    const c = client();
    const srv = await buyActive(c, "t-drop");
    const before = sim.ledger(KEY).length;
    sim.faults = { dropAfterPurchase: 1 };
    const err = await c.buySecondaryIp(srv.serviceid).catch((e) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(
      sim
        .ledger(KEY)
        .slice(before)
        .filter((e) => e.kind === "ip" && e.event === "bought"),
    ).toHaveLength(1);
  });

  test("retries give up within the bound with a clear, retryable error", async () => {
    sim.faults = { http5xx: 50 };
    const err = await client(KEY, { maxAttempts: 3 })
      .locations()
      .catch((e) => e);
    expect(err).toBeInstanceOf(HostwindsError);
    expect(err.message).toMatch(/server error \(HTTP 503\).*gave up after 3 attempts/);
    expect(err.retryable).toBe(true);
  });

  test("a deadline reached while polling names what it waited for", async () => {
    const err = await client()
      .waitFor("server ghost to become ACTIVE", async () => undefined, { timeoutMs: 120, initialDelayMs: 40 })
      .catch((e) => e);
    expect(err.message).toMatch(/gave up waiting for server ghost to become ACTIVE/);
  });

  test("a long wait reports its first check, then one line per 10 s, not one per check", async () => {
    let now = 1_000_000;
    const clock = jest.spyOn(Date, "now").mockImplementation(() => (now += 3000));
    const lines: string[] = [];
    try {
      const err = await client()
        .waitFor("server slow to become ACTIVE", async () => undefined, {
          timeoutMs: 60_000,
          initialDelayMs: 1,
          maxDelayMs: 1,
          onProgress: (l) => lines.push(l),
        })
        .catch((e) => e);
      expect(err.message).toMatch(/gave up waiting for server slow to become ACTIVE/);
    } finally {
      clock.mockRestore();
    }
    // 19 checks 3 s apart: reported at 3, 15, 27, 39 and 51 s.
    expect(lines.map((l) => l.replace(/^waiting for server slow to become ACTIVE /, ""))).toEqual([
      "(3 s, check 1)",
      "(15 s, check 5)",
      "(27 s, check 9)",
      "(39 s, check 13)",
      "(51 s, check 17)",
    ]);
  });

  test("the shared rate limit spaces requests", async () => {
    const c = client(KEY, { requestsPerSecond: 20 });
    const t0 = Date.now();
    await Promise.all([c.locations(), c.locations(), c.locations(), c.locations(), c.locations()]);
    // 5 requests at 20/s need at least 4 intervals of 50 ms; a floor, not a timing assertion on speed.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  test("no log line and no error contains the API key, a root password or a config key", async () => {
    const c = client();
    const srv = await buyActive(c, "t-secret");
    const full = (await c.getInstance(srv.serviceid))!;
    expect(full.password).toBeTruthy();
    const all = lines.join("\n");
    for (const secret of [KEY, OTHER, full.password!, full.configkey!]) expect(all).not.toContain(secret);
  });
});

describe("the stand-in's public addresses: documentation ranges only (RFC 5737)", () => {
  test("documentationIp walks 198.51.100.0/24, 192.0.2.0/24, 203.0.113.0/24 (.1 to .254), then fails clearly", () => {
    const all = Array.from({ length: DOCUMENTATION_ADDRESSES }, (_, n) => documentationIp(n));
    expect(new Set(all).size).toBe(762);
    expect(all.every((ip) => /^(198\.51\.100|192\.0\.2|203\.0\.113)\.(\d+)$/.test(ip))).toBe(true);
    expect(all.every((ip) => Number(ip.split(".")[3]) >= 1 && Number(ip.split(".")[3]) <= 254)).toBe(true);
    expect([all[0], all[253], all[254], all[508], all[761]]).toEqual([
      "198.51.100.1",
      "198.51.100.254",
      "192.0.2.1",
      "203.0.113.1",
      "203.0.113.254",
    ]);
    expect(() => documentationIp(762)).toThrow(AddressesExhaustedError);
    expect(() => documentationIp(762)).toThrow(/all 762 documentation addresses .* are handed out/);
  });

  test("the last address is handed out; past it add_ip and add_instance are refused and nothing is billed", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hw-addresses-"));
    const stateFile = path.join(dir, "state.json");
    const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 50, ipDelayMs: 0, stateFile }).start();
    try {
      const c = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0, maxAttempts: 1 });
      await c.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name: "last" });
      const srv = await c.waitFor(
        "server",
        async () => (await c.listInstances()).find((i) => i.srvrname === "last" && i.status === "ACTIVE"),
        { initialDelayMs: 20 },
      );
      await sim.stop();
      // The state file as the stand-in keeps it: one address left.
      const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { nextIp: number };
      fs.writeFileSync(stateFile, JSON.stringify({ ...state, nextIp: DOCUMENTATION_ADDRESSES - 1 }));
      const again = await new HostwindsSim({ apiKeys: [KEY], buildMs: 50, ipDelayMs: 0, stateFile }).start();
      try {
        const c2 = new HostwindsClient({ apiKey: KEY, apiUrl: again.url, requestsPerSecond: 0, maxAttempts: 1 });
        await c2.buySecondaryIp(srv.serviceid);
        expect((await c2.listIps(srv.serviceid)).map((i) => i.ip)).toContain("203.0.113.254");
        const billed = again.ledger(KEY).length;
        await expect(c2.buySecondaryIp(srv.serviceid)).rejects.toThrow(/all 762 documentation addresses .* are handed out/);
        await expect(
          c2.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name: "one-more" }),
        ).rejects.toThrow(/all 762 documentation addresses/);
        expect(again.ledger(KEY)).toHaveLength(billed);
      } finally {
        await again.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the stand-in's own failures", () => {
  test("a host the SSH-host stand-in cannot make fails the request, named; the server stays in BUILD, never ACTIVE without an IP", async () => {
    const hosts: ServerHosts = {
      addHost: (): string => {
        throw new Error("Cannot parse privateKey: Malformed OpenSSH private key");
      },
      removeHost: () => undefined,
    };
    const sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 0, ipDelayMs: 0, hosts }).start();
    try {
      const c = new HostwindsClient({
        apiKey: KEY,
        apiUrl: sim.url,
        requestsPerSecond: 0,
        maxAttempts: 2,
        backoffBaseMs: 10,
        backoffCapMs: 20,
      });
      await c.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name: "hostless" });
      const err = await c.listInstances().catch((e) => e);
      expect(err).toBeInstanceOf(HostwindsError);
      expect(err.message).toMatch(/HTTP 500/);
      expect(sim.failures[0]).toMatch(/Malformed OpenSSH private key/);
      hosts.addHost = () => "127.0.0.9";
      const [srv] = await c.listInstances();
      expect(srv).toMatchObject({ srvrname: "hostless", status: "ACTIVE", main_ip: "127.0.0.9" });
    } finally {
      await sim.stop();
    }
  });
});
