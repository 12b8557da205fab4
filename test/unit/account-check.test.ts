/** The tenant config against a Hostwinds account (the stand-in on loopback): reads only, each list once. */
import { HostwindsClient } from "../../providers/hostwinds/client";
import { accountProblems } from "../../providers/hostwinds/account-check";
import { findImage, defaultPriceBook } from "../../providers/hostwinds/catalog";
import { Tenant, parseTenant, problemLines } from "../../providers/model/tenant";
import { serverName } from "../../providers/hostwinds/inputs";
import { HostwindsSim, WireAssumptions } from "../../scripts/dev/standins/hostwinds";

const KEY = "sim-key-check-0123456789";

describe("the tenant config against the Hostwinds account", () => {
  let sim: HostwindsSim;
  let client: HostwindsClient;
  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 50, ipDelayMs: 20 }).start();
    client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    await client.send("add_ssh_key", "change", { name: "ops" });
  });
  afterAll(() => sim.stop());

  const tenant = (servers: unknown[]): [unknown, Tenant] => {
    const raw = { id: "acme", tier: "scale", monthlyBudgetUsd: 500, zone: "acme-mail.com", domains: [{ name: "acme-mail.com" }], servers };
    return [raw, parseTenant("t", raw, defaultPriceBook())];
  };
  const check = async (servers: unknown[]) => {
    const [raw, t] = tenant(servers);
    return problemLines(raw, await accountProblems(t, "acme-stack", client));
  };
  const calls = () => new Map(sim.requests);

  test("a valid config passes with three catalogue reads and no purchase", async () => {
    const before = calls();
    expect(await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, sshKeys: ["ops"] }])).toEqual([]);
    const made = [...sim.requests].filter(([a, n]) => n !== (before.get(a) ?? 0)).map(([a, n]) => `${a} ${n - (before.get(a) ?? 0)}`);
    // No image named: a new server gets the default, checked when it is bought, so no image list is read.
    expect(made.sort()).toEqual(["get_locations 1", "get_price_list 1", "get_ssh_keys 1"]);
  });

  const callsDuring = async (work: () => Promise<unknown>) => {
    const before = calls();
    await work();
    return [...sim.requests]
      .filter(([a, n]) => n !== (before.get(a) ?? 0))
      .map(([a, n]) => `${a} ${n - (before.get(a) ?? 0)}`)
      .sort();
  };
  const withWire = async <T>(w: WireAssumptions, work: () => Promise<T>): Promise<T> => {
    sim.setWire(w);
    try {
      return await work();
    } finally {
      sim.setWire({ images: "list", locations: "list", sshKeyList: true });
    }
  };
  const DEBIAN = "5f1a8c2e-0d3b-4e7a-9c61-2b8f4d0e7a13";

  test("an image given as a UUID: no image listing; two reads per tenant preview (locations, price list)", async () => {
    const uuid = "0b9e4c7d-1f2a-4e3b-8c5d-6a7f8e9d0c1b"; // any UUID (a snapshot's, say) is taken as it is
    let problems: string[] = [];
    const made = await callsDuring(
      async () => (problems = await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, image: uuid }])),
    );
    expect(problems).toEqual([]);
    expect(made).toEqual(["get_locations 1", "get_price_list 1"]);
  });

  test("an answer of another shape fails only what needs it, naming the action, the assumption and the shape", async () => {
    await withWire({ images: "other" }, async () => {
      expect(await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, image: DEBIAN }])).toEqual([]);
      const [line] = await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, image: "debian-12" }]);
      expect(line).toContain("tenant.servers[0].image: could not be checked: Hostwinds get_public_images answered in an unexpected shape");
      expect(line).toContain('ASSUMPTIONS: "get_public_images answers a list of {uuid, name}"');
      expect(line).toContain("the answer was {success: {templates: [{template: string, description: string}, …]}}");
      expect(line).toContain("give the image as a template UUID");
    });
    await withWire({ locations: "other" }, async () => {
      const lines = await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, image: DEBIAN }]);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^tenant\.servers\[0\]\.location: could not be checked: Hostwinds get_locations answered in an unexpected shape/,
      );
    });
  });

  test("a refused read uses the cached catalogue; a refused SSH key list leaves the keys to add_instance", async () => {
    await withWire({ locations: "absent", sshKeyList: false }, async () => {
      expect(await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, image: DEBIAN, sshKeys: ["ops"] }])).toEqual([]);
      expect(await check([{ name: "mx1", location: 9, plan: 101, sendingIps: 1, image: DEBIAN }])).toEqual([
        "tenant.servers[0].location: expected a location of the Hostwinds account (1 Seattle, WA, 2 Dallas, TX, 3 Amsterdam, NL), found 9",
      ]);
    });
  });

  test("unknown location and image, missing SSH key, paused and retired IPs of a server not bought yet", async () => {
    expect(
      await check([
        {
          name: "mx1",
          location: 9,
          plan: 101,
          image: "windows-95",
          sendingIps: 1,
          sshKeys: ["ops", "nobody"],
          pausedIps: ["203.0.113.9"],
          retireIps: ["203.0.113.8"],
        },
      ]),
    ).toEqual([
      'tenant.servers[0].image: expected a public image of the account by name or UUID (debian-13, debian-12, debian-11, ubuntu-24.04), or a template UUID, found "windows-95"',
      "tenant.servers[0].location: expected a location of the Hostwinds account (1 Seattle, WA, 2 Dallas, TX, 3 Amsterdam, NL), found 9",
      `tenant.servers[0].pausedIps[0]: expected one of server mx1's secondary IPs (none: it is not bought yet), found "203.0.113.9"`,
      `tenant.servers[0].retireIps[0]: expected one of server mx1's secondary IPs (none: it is not bought yet), found "203.0.113.8"`,
      'tenant.servers[0].sshKeys[1]: expected the name of an SSH key in the Hostwinds account (ops), found "nobody"',
    ]);
  });

  test("on a server that exists: paused/retired/adopted IPs must be its secondary IPs; an adopted server must be there", async () => {
    const template = findImage(await client.images(), "debian-12")!.uuid;
    const name = serverName({ backend: "", project: "", stack: "acme-stack", tenant: "acme", server: "mx1" });
    await client.buyInstance({ template, planRid: 101, locationId: 1, billingCycle: "monthly", name });
    const server = await client.waitFor("mx1", async () => (await client.listInstances()).find((i) => i.srvrname === name && i.main_ip));
    await client.buySecondaryIp(server.serviceid);
    const ip = await client.waitFor("ip", async () => (await client.listIps(server.serviceid)).find((i) => i.ip !== server.main_ip)?.ip);
    expect(await check([{ name: "mx1", location: 1, plan: 101, sendingIps: 1, pausedIps: [ip], retireIps: [ip] }])).toEqual([]);
    expect(
      await check([
        { name: "mx1", location: 1, plan: 101, sendingIps: 1, pausedIps: [server.main_ip, "203.0.113.9"] },
        { name: "mx2", location: 2, plan: 102, sendingIps: 1, adoptServiceId: server.serviceid, adoptIps: [ip] },
        { name: "mx3", location: 1, plan: 101, sendingIps: 1, adoptServiceId: 999999 },
      ]),
    ).toEqual([
      `tenant.servers[0].pausedIps[0]: expected one of server mx1's secondary IPs (${ip}), found "${server.main_ip}"`,
      `tenant.servers[0].pausedIps[1]: expected one of server mx1's secondary IPs (${ip}), found "203.0.113.9"`,
      `tenant.servers[1].location: expected 1, the location of server ${server.serviceid} to adopt, found 2`,
      `tenant.servers[1].plan: expected 101, the plan rid of server ${server.serviceid} to adopt, found 102`,
      "tenant.servers[2].adoptServiceId: expected the id of a server in this Hostwinds account (see the panel or `fleet orphans`), found 999999",
    ]);
    expect(sim.ledger(KEY).filter((e) => e.event === "bought")).toHaveLength(2); // the two the test bought, nothing else
  });
});
