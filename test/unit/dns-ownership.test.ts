/**
 * Who owns a DNS record (issue 31 item 2): the Cloudflare DnsRecord provider against the Cloudflare
 * stand-in over loopback, two tenants sharing one zone. Each test here fails on the code before
 * owner marks (which adopted an identical record of anyone and deleted whatever its state named).
 */
import { provider, DnsRecordInputs, DnsRecordOutputs, claimOf } from "../../providers/cloudflare/dns-record";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { LEGACY_MARK, fingerprintOf, ownerMark, parseOwnerMark } from "../../providers/model/owner";

const TOKEN = "cf-owner-token-0123456789";
const ZONE = "shared-mail.com";
const acme = ownerMark({ backend: fingerprintOf("file:///backends/a"), project: "penguinmails-infra", stack: "acme", tenant: "acme" });
const globex = ownerMark({
  backend: fingerprintOf("file:///backends/a"),
  project: "penguinmails-infra",
  stack: "globex",
  tenant: "globex",
});
const acmeElsewhere = ownerMark({
  backend: fingerprintOf("file:///backends/b"),
  project: "penguinmails-infra",
  stack: "acme",
  tenant: "acme",
});

const spf = (owner: string, ips: string[]): DnsRecordInputs => ({
  zone: ZONE,
  type: "TXT",
  name: ZONE,
  content: ["v=spf1", "mx", ...ips.map((i) => `ip4:${i}`), "-all"].join(" "),
  ttl: 300,
  proxied: false,
  owner,
  claim: "txt:spf1",
});
const a = (owner: string, name: string, ip: string): DnsRecordInputs => ({
  zone: ZONE,
  type: "A",
  name,
  content: ip,
  ttl: 300,
  proxied: false,
  owner,
  claim: "address",
});

describe("DNS record ownership", () => {
  let cf: CloudflareSim;
  beforeAll(async () => {
    cf = await new CloudflareSim({ tokens: { [TOKEN]: [ZONE] } }).start();
    await provider.configure!({
      config: { get: (k: string) => ({ "cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": cf.url })[k] },
    } as never);
  });
  afterAll(() => cf.stop());
  beforeEach(async () => {
    cf.deleteZoneRecords(ZONE);
    cf.addZone(ZONE);
    // A fresh provider process per scenario (the zone listing is cached per run).
    await provider.configure!({
      config: { get: (k: string) => ({ "cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": cf.url })[k] },
    } as never);
  });

  test("the mark names backend, project, stack and tenant, and fits Cloudflare's comment", () => {
    expect(parseOwnerMark(acme)).toEqual({
      backend: fingerprintOf("file:///backends/a"),
      project: "penguinmails-infra",
      stack: "acme",
      tenant: "acme",
    });
    expect(acme).not.toEqual(acmeElsewhere);
    expect(acme.length).toBeLessThanOrEqual(100);
    expect(fingerprintOf("postgres://u:secret@db/x")).toBe(fingerprintOf("postgres://u:rotated@db/x"));
    expect(claimOf("TXT", "v=DKIM1; k=rsa; p=AA==")).toBe("txt:dkim1");
    expect(claimOf("CNAME", "x.example.com")).toBe(claimOf("A", "192.0.2.1"));
  });

  test("a created record carries its owner's mark as its comment", async () => {
    const r = await provider.create(spf(acme, ["192.0.2.10"]));
    expect(cf.records(ZONE).find((x) => x.id === r.id)?.comment).toBe(acme);
  });

  test("a second tenant claiming the apex SPF, a DKIM selector or a host name is refused in check (preview), naming the owner", async () => {
    await provider.create(spf(acme, ["192.0.2.10"]));
    await provider.create(a(acme, `mail1.${ZONE}`, "192.0.2.10"));
    await provider.create({
      ...spf(acme, []),
      type: "TXT",
      name: `pm1._domainkey.${ZONE}`,
      content: "v=DKIM1; k=rsa; p=AA==",
      claim: "txt:dkim1",
    });
    await provider.configure!({
      config: { get: (k: string) => ({ "cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": cf.url })[k] },
    } as never);
    for (const claim of [
      spf(globex, ["198.51.100.7"]),
      a(globex, `mail1.${ZONE}`, "198.51.100.7"),
      { ...spf(globex, []), name: `pm1._domainkey.${ZONE}`, content: "04da6b54-80e4-46f7-96ec-b56ff0331ba9", claim: "txt:dkim1" },
    ]) {
      const r = await provider.check!({} as never, claim);
      expect(r.failures?.[0]?.reason).toMatch(/owned by tenant acme \(stack acme, project penguinmails-infra/);
      expect(r.failures?.[0]?.reason).toMatch(/Nothing was created/);
    }
    // The same stack name on another backend is another owner.
    expect((await provider.check!({} as never, spf(acmeElsewhere, ["192.0.2.10"]))).failures?.[0]?.reason).toMatch(/owned by tenant acme/);
    // A TXT that is not SPF at the apex (a verification string) is no rival.
    expect(
      (await provider.check!({} as never, { ...spf(globex, []), content: "google-site-verification=abc", claim: undefined })).failures,
    ).toBeUndefined();
  });

  test("create never adopts another owner's identical record, and never doubles SPF", async () => {
    await provider.create(spf(acme, ["192.0.2.10"]));
    await expect(provider.create({ ...spf(globex, ["192.0.2.10"]) })).rejects.toThrow(/owned by tenant acme/);
    expect(cf.records(ZONE).filter((r) => r.content.startsWith("v=spf1"))).toHaveLength(1);
  });

  test("a record with this stack's own mark (a run killed after creating it) is adopted, not doubled", async () => {
    const first = await provider.create(spf(acme, ["192.0.2.10"]));
    const again = await provider.create(spf(acme, ["192.0.2.10", "192.0.2.11"]));
    expect(again.id).toBe(first.id);
    expect(cf.records(ZONE)).toHaveLength(1);
    expect(cf.records(ZONE)[0].content).toContain("ip4:192.0.2.11");
  });

  test("update, refresh and delete never change or delete a record carrying another owner's mark", async () => {
    const mine = await provider.create(spf(acme, ["192.0.2.10"]));
    // Another stack's state names acme's record (what `adopt an identical record` used to do).
    const stolen = { ...(mine.outs as DnsRecordOutputs), owner: globex };
    await expect(provider.update!(mine.id, stolen, spf(globex, ["198.51.100.7"]))).rejects.toThrow(/carries the mark of tenant acme/);
    expect((await provider.read!(mine.id, stolen)).id).toBe("");
    await provider.delete!(mine.id, stolen);
    expect(cf.records(ZONE).map((r) => r.id)).toEqual([mine.id]);
    expect(cf.records(ZONE)[0].content).toContain("ip4:192.0.2.10");
  });

  test("a record made before marks (in this stack's state) keeps working and is marked by the next update", async () => {
    const id = cf.seedRecords(ZONE, [
      {
        id: "0123456789abcdef0123456789abcdef",
        type: "TXT",
        name: ZONE,
        content: "v=spf1 mx ip4:192.0.2.10 -all",
        ttl: 300,
        proxied: false,
        comment: LEGACY_MARK,
      },
    ]);
    const legacyState = {
      ...spf(acme, ["192.0.2.10"]),
      owner: undefined,
      claim: undefined,
      recordId: "0123456789abcdef0123456789abcdef",
      zoneId: id,
    } as unknown as DnsRecordOutputs;
    // Preview of the first up after the upgrade: the record is this stack's (its state holds it).
    // The engine gives check the old inputs (no record id) and diff the old outputs.
    const { recordId: _r, zoneId: _z, ...oldInputs } = legacyState;
    expect((await provider.check!(oldInputs as never, spf(acme, ["192.0.2.10"]))).failures).toBeUndefined();
    expect((await provider.check!(legacyState, spf(acme, ["192.0.2.10"]))).failures).toBeUndefined();
    expect((await provider.diff!("0123456789abcdef0123456789abcdef", legacyState, spf(acme, ["192.0.2.10"]))).changes).toBe(true);
    await provider.update!("0123456789abcdef0123456789abcdef", legacyState, spf(acme, ["192.0.2.10"]));
    expect(cf.records(ZONE)[0].comment).toBe(acme);
    // Another stack is refused the unmarked legacy record of an owner nobody can name.
    cf.seedRecords(ZONE, [
      {
        id: "fedcba9876543210fedcba9876543210",
        type: "MX",
        name: ZONE,
        content: `mail1.${ZONE}`,
        priority: 10,
        ttl: 300,
        proxied: false,
        comment: LEGACY_MARK,
      },
    ]);
    await provider.configure!({
      config: { get: (k: string) => ({ "cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": cf.url })[k] },
    } as never);
    const mx = {
      zone: ZONE,
      type: "MX" as const,
      name: ZONE,
      content: `mail1.${ZONE}`,
      priority: 10,
      ttl: 300,
      proxied: false,
      owner: globex,
      claim: "mx",
    };
    expect((await provider.check!({} as never, mx)).failures?.[0]?.reason).toMatch(/older version/);
  });

  test("a record in state whose claim another owner's record now holds stops the preview in diff, naming the owner", async () => {
    const mine = await provider.create(a(acme, `mail2.${ZONE}`, "192.0.2.20"));
    cf.seedRecords(ZONE, [
      {
        id: "00112233445566778899aabbccddeeff",
        type: "CNAME",
        name: `mail2.${ZONE}`,
        content: `x.${ZONE}`,
        ttl: 300,
        proxied: false,
        comment: globex,
      },
    ]);
    await provider.configure!({
      config: { get: (k: string) => ({ "cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": cf.url })[k] },
    } as never);
    await expect(provider.diff!(mine.id, mine.outs as DnsRecordOutputs, a(acme, `mail2.${ZONE}`, "192.0.2.21"))).rejects.toThrow(
      /owned by tenant globex/,
    );
  });

  test("a pending IP's A record waits unpublished, and is published when the address arrives", async () => {
    const w = await provider.create(a(acme, `mail1-ip2.${ZONE}`, ""));
    expect(cf.records(ZONE)).toHaveLength(0);
    const u = await provider.update!(w.id, w.outs as DnsRecordOutputs, a(acme, `mail1-ip2.${ZONE}`, "192.0.2.12"));
    expect(cf.records(ZONE).map((r) => r.content)).toEqual(["192.0.2.12"]);
    await provider.delete!(w.id, u.outs as DnsRecordOutputs);
    expect(cf.records(ZONE)).toHaveLength(0);
  });
});
