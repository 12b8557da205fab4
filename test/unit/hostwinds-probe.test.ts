/**
 * `fleet probe` against the Hostwinds stand-in, with each assumption it can judge served both ways
 * (scripts/dev/standins/hostwinds.ts WireAssumptions): CONFIRMED with the defaults, REFUTED with
 * the switch, and never a purchase (the ledger stays empty).
 */
import { HostwindsClient } from "../../providers/hostwinds/client";
import { serverName } from "../../providers/hostwinds/inputs";
import { ProbeResult, probeAccount, renderProbe } from "../../scripts/cli/fleet/probe";
import { accountFingerprint, checkProbed, checkedInCatalog } from "../../providers/hostwinds/catalog";
import { DEFAULT_API_URL } from "../../providers/hostwinds/wire";
import { HostwindsSim, IMAGES, WireAssumptions } from "../../scripts/dev/standins/hostwinds";

const KEY = "sim-key-probe-0123456789";

describe("fleet probe", () => {
  let sim: HostwindsSim;
  let client: HostwindsClient;
  let serviceId = 0;
  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 20, ipDelayMs: 20 }).start();
    client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    const name = serverName({ backend: "", project: "p", stack: "s", tenant: "probe", server: "mx1" });
    await client.buyInstance({ template: IMAGES[0].uuid, planRid: 101, locationId: 1, billingCycle: "monthly", name });
    const server = await client.waitFor("server", async () => (await client.listInstances()).find((i) => i.main_ip), {
      initialDelayMs: 20,
    });
    serviceId = server.serviceid;
  });
  afterAll(() => sim.stop());

  const probe = async (wire: WireAssumptions, rename = false): Promise<Record<number, ProbeResult>> => {
    sim.setWire({
      rdnsInIpList: true,
      images: "list",
      sshKeyList: true,
      locations: "list",
      productIdIsPlanId: true,
      serverNames: "kept",
      ...wire,
    });
    const bought = sim.ledger(KEY).length;
    const results = await probeAccount(client, { renameServiceId: rename ? serviceId : undefined });
    expect(sim.ledger(KEY)).toHaveLength(bought); // nothing bought, whatever the answers
    return Object.fromEntries(results.map((r) => [r.n, r]));
  };

  test("the stand-in as the client assumes it: every probed assumption CONFIRMED, the rest UNKNOWN", async () => {
    const r = await probe({}, true);
    expect(Object.values(r).map((x) => `${x.n} ${x.verdict}`)).toEqual([
      "1 UNKNOWN",
      "2 CONFIRMED",
      "3 CONFIRMED",
      "4 UNKNOWN",
      "5 CONFIRMED",
      "6 CONFIRMED",
      "7 CONFIRMED",
      "8 CONFIRMED",
      "9 UNKNOWN",
      "10 CONFIRMED",
      "11 UNKNOWN",
      "12 CONFIRMED",
      "13 UNKNOWN",
    ]);
    // The renamed server has its name back.
    expect((await client.getInstance(serviceId))?.srvrname).toMatch(/^pm-[0-9a-z]{14}$/);
    expect(renderProbe(Object.values(r))).toContain(" 2  CONFIRMED  secondary-IP purchase action `add_ip`");
  });

  test("each switch served the other way: REFUTED, with the shape or the message that came back", async () => {
    const r = await probe(
      {
        ipPurchaseAction: "order_ip",
        rdnsInIpList: false,
        images: "other",
        sshKeyList: false,
        locations: "other",
        productIdIsPlanId: false,
        ipsInInstanceList: false,
      },
      false,
    );
    expect([2, 3, 5, 6, 7, 8, 12].map((n) => `${n} ${r[n].verdict}`)).toEqual([
      "2 REFUTED",
      "3 REFUTED",
      "5 REFUTED",
      "6 REFUTED",
      "7 REFUTED",
      "8 REFUTED",
      "12 REFUTED",
    ]);
    expect(r[12].evidence).toBe("get_instances has no `ips` list of addresses for its servers");
    expect(r[2].evidence).toBe('add_ip: "Invalid Action."');
    expect(r[3].evidence).toBe("get_instance_ips answered {success: {IP Addresses: [{ip: string}]}}");
    expect(r[7].evidence).toContain("the answer was {success: {locations: [{location_id: string, location_name: string}, …]}}");
    const names = await probe({ serverNames: "panel" }, true);
    expect(names[10].verdict).toBe("CONFIRMED"); // a mark-shaped name survives the panel's rewrite
  });

  test("an account never probed cannot buy; a probe that refuted the action stops it; the stand-in asks only when told", async () => {
    const results = await probeAccount(client, {});
    const probed = {
      ...checkedInCatalog(),
      probes: { [accountFingerprint(KEY)]: { at: "2026-12-02T00:00:00Z", apiUrl: sim.url, results } },
    };
    expect(() => checkProbed(KEY, DEFAULT_API_URL, "add_instance", true, checkedInCatalog())).toThrow(
      /was never probed.*npm run fleet -- probe --write.*Nothing was bought/,
    );
    expect(() => checkProbed(KEY, DEFAULT_API_URL, "add_instance", true, probed)).not.toThrow();
    expect(() => checkProbed(KEY, sim.url, "add_instance", false, checkedInCatalog())).not.toThrow();
    const refuted = {
      ...probed,
      probes: {
        [accountFingerprint(KEY)]: {
          ...probed.probes[accountFingerprint(KEY)],
          results: results.map((r) => (r.n === 2 ? { ...r, verdict: "REFUTED" as const } : r)),
        },
      },
    };
    expect(() => checkProbed(KEY, DEFAULT_API_URL, "add_ip", true, refuted)).toThrow(/refuted "secondary-IP purchase action `add_ip`/);
    // Through the client: refused before the request is sent, so nothing in the ledger.
    const gated = new HostwindsClient({
      apiKey: KEY,
      apiUrl: sim.url,
      requestsPerSecond: 0,
      beforePurchase: (action) => checkProbed(KEY, sim.url, action, true, checkedInCatalog()),
    });
    const bought = sim.ledger(KEY).length;
    const requests = sim.requests.get("add_instance") ?? 0;
    await expect(
      gated.buyInstance({ template: IMAGES[0].uuid, planRid: 101, locationId: 1, billingCycle: "monthly", name: "pm-x" }),
    ).rejects.toThrow(/never probed/);
    expect(sim.ledger(KEY)).toHaveLength(bought);
    expect(sim.requests.get("add_instance") ?? 0).toBe(requests);
  });
});
