/** The tenant schema: the example tenants are valid, and mistakes come back as one precise line each. */
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { DEFAULT_IMAGE, TenantConfigError, limitProblems, parseTenant, problemLines, rawTenantValue } from "../../providers/model/tenant";
import { monthlyCost } from "../../providers/model/pricing";
import { warmupSchedule } from "../../providers/model/warmup";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { validTenant } from "../fixtures/tenant";

const stacksDir = path.join(__dirname, "..", "..", "stacks");
const examples = fs.readdirSync(stacksDir).filter((f) => /^Pulumi\..+\.yaml$/.test(f));

function problems(raw: unknown): string[] {
  try {
    parseTenant("t", raw, defaultPriceBook());
    return [];
  } catch (e) {
    if (e instanceof TenantConfigError) return e.lines;
    throw e;
  }
}

const valid = validTenant();

describe("tenant config", () => {
  test.each(examples)("the example %s is a valid tenant of its own tier and budget", (file) => {
    const doc = parse(fs.readFileSync(path.join(stacksDir, file), "utf8")) as { config: Record<string, unknown> };
    const t = parseTenant(file, doc.config["penguinmails-infra:tenant"], defaultPriceBook());
    expect(file).toBe(`Pulumi.${t.id}.yaml`);
    const cost = monthlyCost(
      t.servers.map((s) => ({ ...s })),
      defaultPriceBook(),
    );
    expect(cost.totalUsd).toBeLessThanOrEqual(t.monthlyBudgetUsd);
  });

  test("there are at least three examples of different tiers", () => {
    const tiers = examples.map(
      (f) =>
        (parse(fs.readFileSync(path.join(stacksDir, f), "utf8")) as { config: Record<string, { tier: string }> }).config[
          "penguinmails-infra:tenant"
        ].tier,
    );
    expect(new Set(tiers).size).toBeGreaterThanOrEqual(3);
  });

  test("defaults: monthly billing, no image named (debian-13 for a new server), DMARC none, selector pm1, the standard warm-up", () => {
    const t = parseTenant("t", valid, defaultPriceBook());
    expect(t.servers[0]).toMatchObject({ billingCycle: "monthly", sshKeys: [] });
    expect(t.servers[0].image).toBeUndefined();
    expect(DEFAULT_IMAGE).toBe("debian-13");
    expect(t.domains[0]).toEqual({ name: "acme-mail.com", dmarcPolicy: "none", dkimSelector: "pm1", mailboxes: [] });
    expect(t.warmup).toBe("standard");
  });

  test("each mistake is one line naming the key path, what was expected and what was found", () => {
    expect(
      problems({
        ...valid,
        servers: [
          { name: "mx1", location: 1, plan: 101, sendingIps: 40 },
          { name: "mx1", location: "dallas", plan: 101, sendingIps: 1 },
        ],
      }),
    ).toEqual([
      "tenant.servers[0].sendingIps: expected at most 32 sending IPs per server, found 40",
      'tenant.servers[1].location: expected a Hostwinds location id (a whole number), found "dallas"',
      'tenant.servers[1].name: expected a name not used by another server ("mx1" is used twice), found "mx1"',
    ]);
    expect(problems({ ...valid, domains: [{ name: "other.com" }] })).toEqual([
      'tenant.domains[0].name: expected the first domain inside the zone acme-mail.com (the servers\' host names, mx1.<first domain>, are published there); list a domain of that zone first, found "other.com"',
    ]);
    // Other domains may be registered domains of their own, each in its own zone.
    expect(problems({ ...valid, domains: [{ name: "acme-mail.com" }, { name: "tryacme.io" }] })).toEqual([]);
    expect(problems({ ...valid, domains: [{ name: "acme-mail.com" }, { name: "tryacme.io", zone: "acme.io" }] })).toEqual([
      'tenant.domains[1].zone: expected the zone that holds tryacme.io (tryacme.io or a parent of it), found "acme.io"',
    ]);
    expect(
      problems({
        ...valid,
        servers: [
          { name: "mx1", location: 1, plan: 999, sendingIps: 1 },
          { name: "mx2", location: 1, plan: 101, billingCycle: "biennially", sendingIps: 1 },
        ],
      }),
    ).toEqual([
      "tenant.servers[0].plan: expected a plan rid in the catalogue (101, 102, 103, 104; providers/hostwinds/catalog.json, refreshed by `npm run fleet -- catalog`), found 999",
      'tenant.servers[1].billingCycle: expected a billing cycle plan 101 has a price for, found "biennially"',
    ]);
    expect(problems({ ...valid, warmup: "fast" })).toEqual([
      'tenant.warmup: expected standard, conservative, aggressive, a list of daily volumes, or { startVolume, dailyGrowthPercent, ceiling }, found "fast"',
    ]);
    // The warm-up a customer sets: each mistake names its field.
    expect(problems({ ...valid, warmup: { startVolume: 0, dailyGrowthPercent: 150 } })).toEqual([
      "tenant.warmup.startVolume: expected at least 1 message a day (a warm-up starts by sending), found 0",
      "tenant.warmup.dailyGrowthPercent: expected a daily growth of at most 100% (doubling), found 150",
    ]);
    expect(problems({ ...valid, warmup: { startVolume: 500, dailyGrowthPercent: 20, ceiling: 100 } })).toEqual([
      "tenant.warmup.ceiling: expected a ceiling at least the start volume, found 100",
    ]);
    expect(problems({ ...valid, ipWarmup: { "mx9-ip1": { paused: true }, "mx1-ip1": { dailyGrowthPercent: 0 } } })).toEqual([
      "tenant.ipWarmup.mx1-ip1.dailyGrowthPercent: expected a daily growth above 0%, found 0",
      'tenant.ipWarmup.mx9-ip1: expected a sending or standby IP of this tenant by its slot (mx1-ip1, mx1-ip2), found {"paused":true}',
    ]);
    expect(parseTenant("t", { ...valid, warmup: { startVolume: 30, dailyGrowthPercent: 25 } }, defaultPriceBook()).warmup).toEqual({
      startVolume: 30,
      dailyGrowthPercent: 25,
      ceiling: 20000,
    });
    expect(problems(undefined)[0]).toMatch(/expected the tenant object/);
  });

  test("a tenant that is not an object, and a domain listed twice, are one line each", () => {
    // Stack config holds an object as JSON text; a plain value reaches the schema as it is.
    expect(problems(rawTenantValue("acme"))).toEqual([
      'penguinmails-infra:tenant: expected the tenant object (id, tier, monthlyBudgetUsd, zone, domains, servers; see stacks/Pulumi.acme.yaml), found "acme"',
    ]);
    expect(rawTenantValue('{"id":"acme"}')).toEqual({ id: "acme" });
    expect(problems({ ...valid, domains: [{ name: "acme-mail.com" }, { name: "acme-mail.com", dmarcPolicy: "reject" }] })).toEqual([
      'tenant.domains[1].name: expected a domain not listed before ("acme-mail.com" is listed twice), found "acme-mail.com"',
    ]);
  });

  test("over the tier or the budget: the program's own lines (the policy pack is the second guard)", () => {
    const raw = { ...valid, monthlyBudgetUsd: 10, servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2, standbyIps: 1 }] };
    expect(problemLines(raw, limitProblems(parseTenant("t", raw, defaultPriceBook()), defaultPriceBook()))).toEqual([
      "tenant.servers[0].sendingIps: expected at most 2 IPs on one server on the starter tier (sendingIps + standbyIps), found 3",
      "tenant.servers: expected at most 2 sending and standby IPs in all on the starter tier (or a larger tier), found 3",
      "tenant.monthlyBudgetUsd: expected at least $19.96, what the config costs a month (over the budget by $9.96; remove servers or IPs, or raise the budget), found 10",
    ]);
    expect(limitProblems(parseTenant("t", valid, defaultPriceBook()), defaultPriceBook())).toEqual([]);
  });

  test("one DKIM selector per server, and a domain map that names real domains and sending IPs", () => {
    expect(
      problems({
        ...valid,
        domains: [{ name: "acme-mail.com" }, { name: "news.acme-mail.com", dkimSelector: "pm2" }],
        servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2, domainIps: { "acme-mail.com": 3, "other.acme-mail.com": 1 } }],
      }),
    ).toEqual([
      "tenant.servers[0].domainIps.acme-mail.com: expected a sending IP number from 1 to sendingIps (2), found 3",
      "tenant.servers[0].domainIps.other.acme-mail.com: expected one of the tenant's sending domains, found 1",
      'tenant.domains[1].dkimSelector: expected "pm1", the selector of domains[0] (acme-mail.com): MailU signs every domain of a server with one DKIM selector (DKIM_SELECTOR), found "pm2"',
    ]);
  });

  test("warm-up schedules number the days from 1", () => {
    expect(warmupSchedule([10, 20]).map((d) => d.day)).toEqual([1, 2]);
    expect(warmupSchedule("aggressive").at(-1)).toEqual({ day: 10, maxMessages: 20000 });
  });
});
