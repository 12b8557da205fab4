import { delegatedTo, domainStatus, judgeRecord, recordsOfDomain } from "../../scripts/lib/verify/domain";

const spf = { type: "TXT", name: "tryacme.io", content: "v=spf1 ip4:198.51.100.1 -all" };
const mx = { type: "MX", name: "tryacme.io", content: "mx1.acme-mail.com", priority: 10 };
const zone = { zone: "tryacme.io" };

describe("a domain's verification, record by record", () => {
  test("served everywhere: ok, no hint", () => {
    const r = judgeRecord(mx, [["10 mx1.acme-mail.com"]], [["10 mx1.acme-mail.com"]], zone);
    expect(r).toEqual({
      type: "MX",
      name: "tryacme.io",
      expected: "10 mx1.acme-mail.com",
      authoritative: ["10 mx1.acme-mail.com"],
      resolvers: ["10 mx1.acme-mail.com"],
      state: "ok",
    });
  });

  test("the zone serves it, a resolver not yet: propagation under way; NS elsewhere: not delegated", () => {
    expect(judgeRecord(mx, [["10 mx1.acme-mail.com"]], ["NXDOMAIN"], zone)).toMatchObject({
      state: "propagating",
      hint: expect.stringContaining("propagation still under way"),
    });
    expect(
      judgeRecord(mx, [["10 mx1.acme-mail.com"]], ["NXDOMAIN"], { ...zone, delegated: false, nameServers: ["ada.ns.cloudflare.com"] }),
    ).toMatchObject({ state: "failing", hint: expect.stringContaining("set the name servers to ada.ns.cloudflare.com") });
  });

  test("delegated: the resolvers' NS are exactly Cloudflare's (case and final dot aside); unknown when either side is", () => {
    const cf = ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"];
    expect(delegatedTo(cf, ["BOB.ns.cloudflare.com.", "ada.ns.cloudflare.com"])).toBe(true);
    expect(delegatedTo(cf, ["ns1.registrar-parking.example", "ns2.registrar-parking.example"])).toBe(false);
    expect(delegatedTo(cf, ["ada.ns.cloudflare.com"])).toBe(false);
    expect(delegatedTo(undefined, ["ada.ns.cloudflare.com"])).toBeUndefined();
    expect(delegatedTo(cf, undefined)).toBeUndefined();
    expect(delegatedTo(cf, [])).toBeUndefined();
  });

  test("a second SPF, a record made by hand, nothing served, a zone not on the account", () => {
    expect(judgeRecord(spf, [[spf.content, "v=spf1 include:other.example -all"]], [[spf.content]], zone).hint).toContain(
      "a second SPF record at tryacme.io",
    );
    expect(judgeRecord(spf, [["v=spf1 include:other.example -all", "google-site-verification=x"]], [[]], zone).hint).toContain(
      "a conflicting TXT record at tryacme.io (v=spf1 include:other.example -all)",
    );
    expect(judgeRecord(mx, [[]], [[]], zone).hint).toContain("do not serve MX tryacme.io");
    const timeout = Object.assign(new Error("timeout"), { code: "ETIMEOUT" });
    expect(judgeRecord(mx, [timeout], [[]], zone)).toMatchObject({
      state: "propagating",
      hint: "no answer from the zone's authoritative servers for MX tryacme.io (error ETIMEOUT); verify again",
    });
    expect(judgeRecord(mx, [[]], [[]], { ...zone, onAccount: false }).hint).toContain(
      "the zone tryacme.io is not on this Cloudflare account",
    );
  });

  test("the domain's status: failing over pending over verified", () => {
    const row = (state: "ok" | "propagating" | "failing") => ({ ...judgeRecord(mx, [], [], zone), state });
    expect(domainStatus([row("ok"), row("ok")])).toBe("verified");
    expect(domainStatus([row("ok"), row("propagating")])).toBe("pending");
    expect(domainStatus([row("propagating"), row("failing")])).toBe("failing");
  });

  test("a domain's records: its own names and the A records of the hosts it uses", () => {
    const all = [
      { type: "A", name: "mx1.acme-mail.com", content: "203.0.113.1" },
      { type: "TXT", name: "mx1.acme-mail.com", content: "v=spf1 ip4:203.0.113.1 -all" },
      mx,
      spf,
      { type: "MX", name: "acme-mail.com", content: "mx1.acme-mail.com", priority: 10 },
    ];
    expect(recordsOfDomain("tryacme.io", all, ["mx1.acme-mail.com"]).map((r) => `${r.type} ${r.name}`)).toEqual([
      "A mx1.acme-mail.com",
      "MX tryacme.io",
      "TXT tryacme.io",
    ]);
  });
});
