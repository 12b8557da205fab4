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
    const owned = ownedBy([state]);
    expect([...owned.ips].sort()).toEqual([...ips].sort());
    const rules = { minAgeMs: 0, now: Date.now() + 86_400_000 };
    const first = await findOrphans(client, owned, 4.99, rules);
    const second = await findOrphans(client, ownedBy([state]), 4.99, rules);
    expect(first.filter((o) => o.serviceId === server.serviceid)).toEqual([]);
    expect(releasable(first, second).filter((o) => o.serviceId === server.serviceid)).toEqual([]);
  });

  test("a slot still pending holds back every unclaimed IP on its server (it may be the answer to its order)", () => {
    const owned = ownedBy([
      {
        stack: "p",
        pending: [],
        resources: [{ type: SECONDARY_IP_TYPE, id: "order-7-1", outputs: { serviceId: 7, ip: "", status: "purchasing" } }],
      },
    ]);
    expect(owned.ipPendingOn.has(7)).toBe(true);
    expect(owned.ips.size).toBe(0);
  });
});
