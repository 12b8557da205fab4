/** The Cloudflare DNS client against the Cloudflare stand-in over real HTTP on loopback. */
import { CloudflareClient, CloudflareError } from "../../providers/cloudflare/client";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { OutcomeUnknownError } from "../../providers/lib/http";

const TOKEN = "cf-unit-token-0123456789";

describe("Cloudflare client against the stand-in", () => {
  let cf: CloudflareSim;
  const client = (token = TOKEN) => new CloudflareClient({ apiToken: token, baseUrl: cf.url });
  beforeAll(async () => {
    cf = await new CloudflareSim({ tokens: { [TOKEN]: ["acme-mail.com"], "other-token-0123456789": ["globex.io"] } }).start();
    cf.addZone("acme-mail.com");
    cf.addZone("globex.io");
  });
  afterAll(() => cf.stop());

  test("create, read, list, update, delete; a deleted record reads as gone and deletes as already gone", async () => {
    const c = client();
    const zone = await c.zoneId("acme-mail.com");
    const r = await c.create(zone, { type: "A", name: "mx1.acme-mail.com", content: "198.51.100.10", ttl: 300, proxied: false });
    expect((await c.get(zone, r.id))?.content).toBe("198.51.100.10");
    expect((await c.list(zone, { type: "A", name: "mx1.acme-mail.com" })).map((x) => x.id)).toEqual([r.id]);
    expect(
      (await c.update(zone, r.id, { type: "A", name: "mx1.acme-mail.com", content: "198.51.100.11", ttl: 300, proxied: false })).content,
    ).toBe("198.51.100.11");
    expect(await c.delete(zone, r.id)).toBe(true);
    expect(await c.get(zone, r.id)).toBeUndefined();
    expect(await c.delete(zone, r.id)).toBe(false);
  });

  test("malformed records get Cloudflare's errors with their codes", async () => {
    const c = client();
    const zone = await c.zoneId("acme-mail.com");
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: CloudflareError) => e,
      );
    expect(
      (await err(c.create(zone, { type: "A", name: "x.acme-mail.com", content: "not-an-ip", ttl: 300, proxied: false })))?.errors[0].code,
    ).toBe(9005);
    expect(
      (await err(c.create(zone, { type: "MX", name: "acme-mail.com", content: "mx1.acme-mail.com", ttl: 300, proxied: false })))?.message,
    ).toMatch(/Priority is required for MX records/);
    expect((await err(c.create(zone, { type: "TXT", name: "other.example", content: "x", ttl: 300, proxied: false })))?.message).toMatch(
      /must be within the zone acme-mail.com/,
    );
    await c.create(zone, { type: "TXT", name: "acme-mail.com", content: "v=spf1 -all", ttl: 300, proxied: false });
    expect(
      (await err(c.create(zone, { type: "TXT", name: "acme-mail.com", content: "v=spf1 -all", ttl: 300, proxied: false })))?.errors[0].code,
    ).toBe(81058);
    const long = "v=DKIM1; k=rsa; p=" + "A".repeat(400);
    expect(
      (await c.create(zone, { type: "TXT", name: "pm1._domainkey.acme-mail.com", content: long, ttl: 300, proxied: false })).content,
    ).toBe(long);
  });

  test("a token sees only its zones; a bad token is an authentication error", async () => {
    await expect(client().zoneId("globex.io")).rejects.toThrow(/no zone named globex.io for this token/);
    await expect(client("wrong-token-0123456789").zoneId("acme-mail.com")).rejects.toThrow(/Authentication error \(10000\)/);
  });

  test("429 with Retry-After and 5xx on reads are retried", async () => {
    const c = client();
    const zone = await c.zoneId("acme-mail.com");
    cf.faults = { http429: 1, http5xx: 2 };
    expect(Array.isArray(await c.list(zone, {}))).toBe(true);
    expect(cf.faults).toEqual({ http429: 0, http5xx: 0 });
  });

  test("a create answered with 5xx is not posted again: its outcome is unknown (the same error type as Hostwinds' purchases)", async () => {
    const c = client();
    const zone = await c.zoneId("acme-mail.com");
    cf.faults = { http5xx: 1 };
    const err = await c
      .create(zone, { type: "A", name: "once.acme-mail.com", content: "198.51.100.12", ttl: 300, proxied: false })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(err.message).toMatch(/^Cloudflare create A once.acme-mail.com: .*it may have gone through/);
    expect(err.message).not.toContain(TOKEN);
  });
});
