/** The outbound relay's files: which IP each domain leaves from, and the Postfix transports that do it. */
import { OutboundIp, RelayConfig, domainRoutes, idleIps, relayMasterCf, senderTransports } from "../../components/outbound-relay";
import { idleIpChecks } from "../../scripts/lib/verify/index";

const ip = (slot: string, n: number): OutboundIp => ({ slot, ip: `198.51.100.${n}`, hostname: `${slot}.acme-mail.com` });
const sending = [ip("mx1-ip1", 1), ip("mx1-ip2", 2), ip("mx1-ip3", 3)];
const standby = [ip("mx1-standby1", 9)];
const domains = Array.from({ length: 12 }, (_, i) => `d${i}.acme-mail.com`);
const config = (over: Partial<RelayConfig> = {}): RelayConfig => ({
  hostname: "mx1.acme-mail.com",
  sending,
  standby,
  paused: [],
  domains,
  ...over,
});
const via = (c: RelayConfig) => Object.fromEntries(domainRoutes(c).map((r) => [r.domain, r.via.slot]));

describe("outbound relay", () => {
  test("each transport binds its IP and says HELO with that IP's PTR name", () => {
    const master = relayMasterCf(config());
    for (const s of [...sending, ...standby])
      expect(master).toContain(
        `pm-${s.slot}`.padEnd(10) +
          ` unix  -       -       n       -       -       smtp\n  -o smtp_bind_address=${s.ip}\n  -o smtp_helo_name=${s.hostname}\n`,
      );
  });

  test("the default spread is stable: a new IP moves only the domains that go to it; a replaced IP moves none", () => {
    const before = via(config({ sending: sending.slice(0, 2) }));
    const after = via(config());
    for (const d of domains) if (after[d] !== "mx1-ip3") expect(after[d]).toBe(before[d]);
    expect(new Set(Object.values(after)).size).toBe(3);
    const replaced = via(config({ sending: [sending[0], { ...sending[1], ip: "198.51.100.77" }, sending[2]] }));
    expect(replaced).toEqual(after);
  });

  test("an explicit map wins; a paused IP's domains go to the standby, and with no standby left to the IPs still sending", () => {
    expect(via(config({ domainIps: { "d0.acme-mail.com": 3 } }))["d0.acme-mail.com"]).toBe("mx1-ip3");
    const all3 = Object.fromEntries(domains.map((d) => [d, 2]));
    expect(new Set(Object.values(via(config({ domainIps: all3, paused: ["198.51.100.2"] }))))).toEqual(new Set(["mx1-standby1"]));
    const noStandby = via(config({ domainIps: all3, paused: ["198.51.100.2"], standby: [] }));
    expect(Object.values(noStandby).every((s) => s === "mx1-ip1" || s === "mx1-ip3")).toBe(true);
    expect(() => via(config({ paused: sending.map((s) => s.ip), standby: [] }))).toThrow(/every sending IP is paused/);
  });

  test("the sender map: one line per domain, bounces (<>) as the first domain", () => {
    const map = senderTransports(config({ domains: ["a.acme-mail.com"], domainIps: { "a.acme-mail.com": 2 } }));
    expect(map.split("\n").slice(1)).toEqual(["@a.acme-mail.com pm-mx1-ip2:", "<> pm-mx1-ip2:", ""]);
  });

  test("a map naming a domain or IP that does not exist is refused with the reason", () => {
    expect(() => domainRoutes(config({ domainIps: { "d0.acme-mail.com": 4 } }))).toThrow(
      /domainIps\.d0\.acme-mail\.com is 4: expected a sending IP number from 1 to 3/,
    );
  });

  test("every sending IP carries a domain when there are at least as many domains as IPs; with fewer, the idle ones are named", () => {
    for (let n = 1; n <= 40; n++) {
      const ds = Array.from({ length: 3 }, (_, i) => `x${n}-${i}.example.com`);
      const c = config({ domains: ds });
      expect(new Set(Object.values(via(c))).size).toBe(3);
      expect(idleIps(c)).toEqual([]);
      const two = config({ domains: ds.slice(0, 2) });
      expect(idleIps(two)).toHaveLength(1);
      expect(Object.values(via(two))).not.toContain(idleIps(two)[0].slot);
    }
    // a paused IP is not idle; the standby sending in its place is counted instead
    const paused = config({ domains: ["a.example.com"], domainIps: { "a.example.com": 1 }, paused: ["198.51.100.1"] });
    expect(idleIps(paused).map((s) => s.slot)).toEqual(["mx1-ip2", "mx1-ip3"]);
  });

  test("verify: an idle sending IP is a warning with its monthly cost; one that carries a domain passes", () => {
    const outputs = {
      dnsRecords: [],
      servers: [
        {
          name: "mx1.acme-mail.com",
          mainIp: "198.51.100.100",
          sendingIps: sending.slice(0, 2),
          standbyIps: standby,
          routes: { domains: [{ domain: "a.example.com", ip: "198.51.100.1" }], idleIps: ["198.51.100.2"] },
        },
      ],
      monthlyCostUsd: { servers: [{ ipsUsd: 14.97 }] },
    };
    expect(idleIpChecks(outputs)).toEqual([
      { check: "ip carries a domain", subject: "198.51.100.1", status: "pass", detail: "a.example.com" },
      {
        check: "ip carries a domain",
        subject: "198.51.100.2",
        status: "warn",
        detail: expect.stringMatching(/^idle: .* costs \$4\.99\/month and is in SPF; add a domain or release the IP$/),
      },
    ]);
  });
});
