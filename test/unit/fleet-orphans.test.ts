/**
 * `fleet orphans` and `fleet recover` read ownership from what a stack's state says a resource
 * holds, never from the shape of its id (issue 31 item 1): a slot that began as a pending order
 * keeps its `order-…` resource id after its IP arrives, and that IP is the live stack's.
 */
import { findOrphans, ipOf, ownedBy, releasable } from "../../scripts/cli/fleet/orphans";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../providers/hostwinds";
import { HostwindsSim, IMAGES } from "../../scripts/dev/standins/hostwinds";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { serverName } from "../../providers/hostwinds/inputs";

const KEY = "sim-key-orphans-0123456789";
const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;
const PROJECT = "penguinmails-infra";
/** The backend the owner set is read from ("" as marks made before marks named one). */
const SCOPE = { backend: "", project: PROJECT };

describe("orphans: ownership from state, never from an id's shape", () => {
  let sim: HostwindsSim;
  let client: HostwindsClient;
  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 20, ipDelayMs: 0 }).start();
    client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
  });
  afterAll(() => sim.stop());

  test("ipOf: the ip output, an address-shaped id only for older states, never an order id", () => {
    expect(ipOf({ id: "order-10001-1764640000000", outputs: { ip: "198.51.100.7", status: "assigned" } })).toBe("198.51.100.7");
    expect(ipOf({ id: "order-10001-1764640000000", outputs: { ip: "", status: "purchasing" } })).toBeUndefined();
    expect(ipOf({ id: "198.51.100.8", outputs: {} })).toBe("198.51.100.8");
    expect(ipOf({ id: "order-10001-1764640000000", outputs: {} })).toBeUndefined();
  });

  test("a live stack's IPs, one of them a settled pending order (id order-…), are neither orphans nor released", async () => {
    const name = serverName({ tenant: "live", server: "mx1", stack: "live", backend: "", project: "penguinmails-infra" });
    await client.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name });
    const server = await client.waitFor("server", async () => (await client.listInstances()).find((i) => i.srvrname === name && i.main_ip));
    await client.buySecondaryIp(server.serviceid);
    await client.buySecondaryIp(server.serviceid);
    const ips = await client.waitFor("IPs", async () => {
      const l = (await client.listIps(server.serviceid)).map((i) => i.ip).filter((ip) => ip !== server.main_ip);
      return l.length === 2 ? l : undefined;
    });
    const state = {
      stack: "live",
      pending: [],
      resources: [
        { type: INSTANCE_TYPE, id: String(server.serviceid), outputs: { serviceId: server.serviceid, serverName: name } },
        { type: SECONDARY_IP_TYPE, id: ips[0], outputs: { serviceId: server.serviceid, ip: ips[0], status: "assigned" } },
        // Settled after being pending: the id stays the order's.
        {
          type: SECONDARY_IP_TYPE,
          id: `order-${server.serviceid}-1764640000000`,
          outputs: { serviceId: server.serviceid, ip: ips[1], status: "assigned" },
        },
      ],
    };
    const owned = ownedBy([state], SCOPE);
    expect([...owned.ips].sort()).toEqual([...ips].sort());
    const rules = { minAgeMs: 0, now: Date.now() + 86_400_000 };
    const first = await findOrphans(client, owned, 4.99, rules);
    const second = await findOrphans(client, ownedBy([state], SCOPE), 4.99, rules);
    expect(first.filter((o) => o.serviceId === server.serviceid)).toEqual([]);
    expect(releasable(first, second).filter((o) => o.serviceId === server.serviceid)).toEqual([]);
  });

  test("a slot still pending holds back every unclaimed IP on its server (it may be the answer to its order)", () => {
    const owned = ownedBy(
      [
        {
          stack: "p",
          pending: [],
          resources: [{ type: SECONDARY_IP_TYPE, id: "order-7-1", outputs: { serviceId: 7, ip: "", status: "purchasing" } }],
        },
      ],
      SCOPE,
    );
    expect(owned.ipPendingOn.has(7)).toBe(true);
    expect(owned.ips.size).toBe(0);
  });

  test("two backends on one account: from either, the other's live servers and IPs are foreign, reported and never released; this backend's stack's stray server is an orphan", async () => {
    // Backend A runs stack `acme` (a server and an IP); backend B runs its own stack `acme` too (same name, other backend).
    const A = { backend: "aaaaaaaa", project: PROJECT };
    const B = { backend: "bbbbbbbb", project: PROJECT };
    const buy = async (name: string, ips: number) => {
      await client.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name });
      const server = await client.waitFor("server", async () =>
        (await client.listInstances()).find((i) => i.srvrname === name && i.main_ip),
      );
      for (let k = 0; k < ips; k++) await client.buySecondaryIp(server.serviceid);
      const list = await client.waitFor("IPs", async () => {
        const l = (await client.listIps(server.serviceid)).map((i) => i.ip).filter((ip) => ip !== server.main_ip);
        return l.length === ips ? l : undefined;
      });
      return { server, ips: list };
    };
    const aName = serverName({ tenant: "acme", server: "mx1", stack: "acme", ...A });
    const bName = serverName({ tenant: "acme", server: "mx1", stack: "acme", ...B });
    // A server marked by backend B's stack `acme` that its state does not hold (a run killed before saving it).
    const strayName = serverName({ tenant: "acme", server: "mx2", stack: "acme", ...B });
    const a = await buy(aName, 1);
    const b = await buy(bName, 1);
    const stray = await buy(strayName, 0);
    const stateOf = (x: { server: { serviceid: number }; ips: string[] }, name: string) => ({
      stack: "acme",
      pending: [],
      resources: [
        { type: INSTANCE_TYPE, id: String(x.server.serviceid), outputs: { serviceId: x.server.serviceid, serverName: name } },
        { type: SECONDARY_IP_TYPE, id: x.ips[0], outputs: { serviceId: x.server.serviceid, ip: x.ips[0], status: "assigned" } },
      ],
    });
    const rules = { minAgeMs: 0, now: Date.now() + 86_400_000 };
    const ours = [a.server.serviceid, b.server.serviceid, stray.server.serviceid];
    const scan = async (states: Parameters<typeof ownedBy>[0], scope: typeof A) =>
      (await findOrphans(client, ownedBy(states, scope), 4.99, rules)).filter((o) => ours.includes(o.serviceId));

    // From B: A's server is foreign (held, never releasable); B's stray server is B's orphan.
    const fromB = await scan([stateOf(b, bName)], B);
    expect(fromB.map((o) => [o.serviceId, o.kind, o.foreign === true, o.held === undefined])).toEqual([
      [a.server.serviceid, "server", true, false],
      [stray.server.serviceid, "server", false, true],
    ]);
    expect(fromB[0].held).toMatch(/^foreign: its mark names no stack of this backend/);
    expect(releasable(fromB, await scan([stateOf(b, bName)], B)).map((o) => o.serviceId)).toEqual([stray.server.serviceid]);
    // From A: B's servers (the live one and its stray) are both foreign; nothing of A's is an orphan.
    const fromA = await scan([stateOf(a, aName)], A);
    expect(fromA.map((o) => [o.serviceId, o.foreign])).toEqual([
      [b.server.serviceid, true],
      [stray.server.serviceid, true],
    ]);
    expect(releasable(fromA, fromA)).toEqual([]);
    // A backend with no stacks at all releases nothing; and an older `pm-` name that names no backend is foreign too.
    expect(releasable(await scan([], A), await scan([], A))).toEqual([]);
  });
});
