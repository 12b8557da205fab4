/**
 * Drift inventory by account: the IPs from get_instances' `ips` when the account's first server shows
 * the listing agrees with get_instance_ips and no rDNS is reported, else one get_instance_ips per
 * server. Generated fleets on the Hostwinds stand-in, read under every mix of the two assumptions it
 * rests on (ASSUMPTIONS: rdns per entry of get_instance_ips, ips in get_instances): the world read is
 * the same as the per-server read, only the number of calls differs.
 */
import { HostwindsClient } from "../../providers/hostwinds/client";
import { RealWorld, realWorld } from "../../scripts/cli/fleet/inventory";
import { rng } from "../../scripts/dev/invariants";
import { HostwindsSim, WireAssumptions } from "../../scripts/dev/standins/hostwinds";

const KEY = "sim-key-inventory-0123456789";
const SEED = Number(process.env.INVARIANTS_SEED ?? 20261202);

/** Every server's addresses (and rDNS where reported), in a stable order: what drift compares. */
const seen = (w: RealWorld, withRdns: boolean) =>
  [...w.servers.values()]
    .sort((a, b) => a.serviceId - b.serviceId)
    .map((s) => ({
      serviceId: s.serviceId,
      name: s.name,
      ips: [...s.ips.entries()].map(([ip, rdns]) => `${ip}${withRdns && rdns ? ` ${rdns}` : ""}`).sort(),
    }));

describe("drift inventory: IPs by account when the listing carries them", () => {
  const modes: Array<{ name: string; wire: WireAssumptions; listing: boolean }> = [
    { name: "rDNS reported (per server, to compare it)", wire: {}, listing: false },
    { name: "no rDNS, ips in the listing (one listing)", wire: { rdnsInIpList: false }, listing: true },
    { name: "no rDNS, no ips in the listing (per server)", wire: { rdnsInIpList: false, ipsInInstanceList: false }, listing: false },
    { name: "rDNS reported, no ips in the listing (per server)", wire: { ipsInInstanceList: false }, listing: false },
  ];

  test("generated fleets: the same servers and IPs in every mode; 2 calls per account only where the listing serves", async () => {
    const next = rng(SEED);
    const int = (n: number) => Math.floor(next() * n);
    for (let round = 0; round < 12; round++) {
      const sim = await new HostwindsSim({ apiKeys: [KEY] }).start();
      try {
        const servers = int(7);
        let ip = 1;
        for (let s = 0; s < servers; s++)
          sim.seedInstance(KEY, {
            serviceId: 20000 + round * 100 + s,
            name: s === 1 && next() < 0.5 ? `someone-else-${s}` : `pm-gen${round}x${s}`,
            plan: 101,
            location: 1,
            billingCycle: "monthly",
            template: "00000000-0000-4000-8000-000000000000",
            mainIp: `192.0.2.${ip++}`,
            ips: Array.from({ length: int(5) }, () => ({ ip: `192.0.2.${ip++}`, rdns: next() < 0.7 ? `mx${ip}.example.com` : undefined })),
          });
        const ours = sim.inventory(KEY).filter((s) => s.name.startsWith("pm-")).length;
        const client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
        const reads: Array<ReturnType<typeof seen>> = [];
        for (const m of modes) {
          sim.setWire({ rdnsInIpList: true, ipsInInstanceList: true, ...m.wire });
          const w = await realWorld({ hostwinds: [client], cloudflare: [] });
          const where = `seed ${SEED} round ${round} (${ours} servers of ours), ${m.name}`;
          expect({ where, calls: w.calls.hostwinds }).toEqual({ where, calls: m.listing && ours > 0 ? 2 : 1 + ours });
          reads.push(seen(w, false));
          // where rDNS is reported, the read keeps it (drift compares it)
          if (m.wire.rdnsInIpList !== false)
            for (const s of sim.inventory(KEY).filter((x) => x.name.startsWith("pm-")))
              for (const addr of s.ips)
                if (sim.ptr(addr) && w.servers.get(s.serviceId)!.ips.has(addr))
                  expect(w.servers.get(s.serviceId)!.ips.get(addr)).toBe(sim.ptr(addr));
        }
        for (const r of reads.slice(1)) expect(r).toEqual(reads[0]);
        // and what the per-server read found is the account as it is
        expect(reads[0].map((s) => s.ips.length)).toEqual(
          sim
            .inventory(KEY)
            .filter((s) => s.name.startsWith("pm-"))
            .sort((a, b) => a.serviceId - b.serviceId)
            .map((s) => s.ips.length),
        );
      } finally {
        await sim.stop();
      }
    }
  });

  test("a listing that disagrees with get_instance_ips is not trusted: every server is read on its own", async () => {
    const sim = await new HostwindsSim({ apiKeys: [KEY], wire: { rdnsInIpList: false } }).start();
    try {
      for (let s = 0; s < 3; s++)
        sim.seedInstance(KEY, {
          serviceId: 30000 + s,
          name: `pm-disagree${s}`,
          plan: 101,
          location: 1,
          billingCycle: "monthly",
          template: "00000000-0000-4000-8000-000000000000",
          mainIp: `198.51.100.${10 + s}`,
          ips: [{ ip: `198.51.100.${20 + s}` }],
        });
      const client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
      // The listing as a panel might answer it: the main IP only.
      const listInstances = client.listInstances.bind(client);
      client.listInstances = async () => (await listInstances()).map((i) => ({ ...i, ips: i.main_ip ? [i.main_ip] : [] }));
      const lines: string[] = [];
      const w = await realWorld({ hostwinds: [client], cloudflare: [], log: (l) => lines.push(l) });
      expect(w.calls.hostwinds).toBe(1 + 3);
      expect([...w.servers.values()].map((s) => s.ips.size)).toEqual([2, 2, 2]);
      expect(lines.join("\n")).toMatch(/one server at a time/);
    } finally {
      await sim.stop();
    }
  });
});
