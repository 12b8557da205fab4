/**
 * The tenant schema: one tenant per stack, read from the stack's config key
 * `penguinmails-infra:tenant` and checked with zod. Every problem is reported
 * at once, one line each, naming the stack, the key path, what was expected
 * and what was found; nothing is created when any problem is found.
 */
import { z } from "zod";
import { DEFAULT_TIER_LIMITS, TIERS } from "./tiers";
import { BILLING_CYCLES, BillingCycle, MonthlyCost, PriceBook, monthlyCost, monthlyPriceUsd } from "./pricing";
import { DEFAULT_WARMUP_CEILING, WARMUP_CURVES } from "./warmup";
import { DKIM_SELECTOR, HOSTNAME, IPV4, SLUG } from "./names";
import { inZone } from "./zones";
import { duplicateMailboxes, mailboxSchema } from "./mailboxes";

/** zod 4's `error` covers a missing value too: leave that to parseTenant's "Required" (zod 3's required_error). */
const typeError = (message: string) => ({ error: (i: { input?: unknown }) => (i.input === undefined ? undefined : message) });
const slug = z.string(typeError("expected a text id")).regex(SLUG, "expected 1-32 lowercase letters, digits or dashes");
const domain = z.string(typeError("expected a domain name")).regex(HOSTNAME, "expected a lowercase domain name such as acme-mail.com");
/**
 * The image of a server whose config names none: the current Debian stable, 13 "trixie" (Debian
 * 13.0 released 2025-08-09; debian.org/releases). Debian 12 "bookworm" is still supported (name
 * it: `image: debian-12`). The install (components/mailu-*.ts) works on both, each judged by its
 * own tools in the tests.
 */
export const DEFAULT_IMAGE = "debian-13";

const positiveInt = (what: string) =>
  z
    .number(typeError(`expected ${what}`))
    .int(`expected ${what}`)
    .positive(`expected ${what}`);
const ipv4 = z.string().regex(IPV4, "expected an IPv4 address");

export const MAX_IPS_PER_SERVER = 32;

const startVolume = z
  .number(typeError("expected a whole number of messages a day"))
  .int("expected a whole number of messages a day")
  .min(1, "expected at least 1 message a day (a warm-up starts by sending)");
const dailyGrowthPercent = z
  .number(typeError("expected a percentage"))
  .gt(0, "expected a daily growth above 0%")
  .max(100, "expected a daily growth of at most 100% (doubling)");
const ceiling = positiveInt("a daily cap in messages");
/** A warm-up the customer sets: start, daily growth, ceiling (providers/model/warmup.ts). */
const warmupRamp = z
  .object({ startVolume, dailyGrowthPercent, ceiling: ceiling.default(DEFAULT_WARMUP_CEILING) })
  .strict()
  .refine((r) => r.ceiling >= r.startVolume, { message: "expected a ceiling at least the start volume", path: ["ceiling"] });
/** One IP's own warm-up (`ipWarmup.<slot>`; PUT /tenants/{t}/ips/{ip}/warmup): each field overrides the tenant's. */
export const ipWarmupSettings = z
  .object({
    startVolume: startVolume.optional(),
    dailyGrowthPercent: dailyGrowthPercent.optional(),
    ceiling: ceiling.optional(),
    paused: z.boolean().optional(),
    /** The day its warm-up started over (recover_ip resume): its sent days count from here, not from the day it was got. */
    // An unquoted day in YAML is a timestamp to Pulumi's config reader, which hands it back as
    // "2026-12-02 00:00:00 +0000 UTC": the day is its first ten characters.
    restartedOn: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}(?:[ T].*)?$/, "expected a day as YYYY-MM-DD")
      .transform((d) => d.slice(0, 10))
      .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), "expected a calendar day")
      .optional(),
  })
  .strict();

const namedOrListed = z.union(
  [z.enum(Object.keys(WARMUP_CURVES) as [keyof typeof WARMUP_CURVES]), z.array(positiveInt("a daily volume")).min(1)],
  {
    error: () =>
      `expected ${Object.keys(WARMUP_CURVES).join(", ")}, a list of daily volumes, or { startVolume, dailyGrowthPercent, ceiling }`,
  },
);
/** A named curve, daily volumes, or a ramp; an object is judged as a ramp, so its mistakes name the field. */
const warmupSchema = z
  .unknown()
  .optional()
  .transform((v, ctx): z.infer<typeof warmupRamp> | z.infer<typeof namedOrListed> => {
    if (v === undefined) return "standard";
    const r = (v !== null && typeof v === "object" && !Array.isArray(v) ? warmupRamp : namedOrListed).safeParse(v);
    if (r.success) return r.data;
    for (const i of r.error.issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path as Array<string | number> });
    return z.NEVER;
  });

export const serverSchema = z
  .object({
    name: slug,
    location: positiveInt("a Hostwinds location id (a whole number)"),
    plan: positiveInt("a Hostwinds plan rid (a whole number)"),
    billingCycle: z.enum(BILLING_CYCLES, { error: () => `expected one of ${BILLING_CYCLES.join(", ")}` }).default("monthly"),
    // No default here: a server that names no image gets DEFAULT_IMAGE when it is bought and keeps
    // the image it was bought with after the default moves on (components/mail-server.ts).
    image: z.string().min(1).optional(),
    sendingIps: z
      .number(typeError("expected a whole number of sending IPs"))
      .int("expected a whole number of sending IPs")
      .min(0, "expected 0 or more sending IPs")
      .max(MAX_IPS_PER_SERVER, `expected at most ${MAX_IPS_PER_SERVER} sending IPs per server`),
    sshKeys: z.array(z.string().min(1)).default([]),
    adoptServiceId: positiveInt("the id of an existing server (a whole number)").optional(),
    /**
     * Accept replacing this server when a change cannot be made in place (location, image, billing
     * cycle, another adopted server): its mail, IPs and their warm-up are lost. Off: refused in preview.
     */
    allowReplace: z.boolean(typeError("expected true or false")).optional(),
    adoptIps: z.array(ipv4).optional(),
    /** Sending IPs to replace (bad reputation): each gets a new IP first, then is released. */
    retireIps: z.array(ipv4).default([]),
    /** IPs bought and published (rDNS, A, SPF) but kept out of the sending rotation, for emergencies. */
    standbyIps: z
      .number(typeError("expected a whole number of standby IPs"))
      .int("expected a whole number of standby IPs")
      .min(0, "expected 0 or more standby IPs")
      .max(4, "expected at most 4 standby IPs per server")
      .default(0),
    /** Sending IPs to stop sending from now; a standby IP takes each one's place. */
    pausedIps: z.array(ipv4).default([]),
    /** Which sending IP (1 = <server>-ip1) each domain leaves from; domains not named are spread evenly and stably. */
    domainIps: z
      .record(domain, positiveInt("a sending IP number (1 for <server>-ip1)"), {
        // zod 4 reports a bad key as "Invalid key in record" rather than with the key schema's message.
        error: (i) => (i.code === "invalid_key" ? "expected a lowercase domain name such as acme-mail.com" : undefined),
      })
      .optional(),
  })
  .strict();

export const domainSchema = z
  .object({
    name: domain,
    dmarcPolicy: z.enum(["none", "quarantine", "reject"], { error: () => "expected none, quarantine or reject" }).default("none"),
    dkimSelector: z.string().regex(DKIM_SELECTOR, "expected a DKIM selector such as pm1").default("pm1"),
    /**
     * The Cloudflare zone the domain's records go in. Not given: the zone the Cloudflare token can
     * see whose name is the longest suffix of the domain (providers/model/zones.ts); for the first
     * domain, whose names the servers' host names take, the tenant's `zone`.
     */
    zone: domain.optional(),
    /** The domain's mailboxes (SMTP sending accounts, MailU users on the first server); passwords are made by the stack. */
    mailboxes: z.array(mailboxSchema).default([]),
  })
  .strict();

export const tenantSchema = z
  .object({
    id: slug,
    tier: z.enum(TIERS, { error: () => `expected one of ${TIERS.join(", ")}` }),
    monthlyBudgetUsd: z.number(typeError("expected a number of US dollars")).nonnegative("expected 0 or more US dollars"),
    zone: domain,
    domains: z.array(domainSchema).min(1, "expected at least one sending domain"),
    servers: z.array(serverSchema).min(1, "expected at least one server"),
    warmup: warmupSchema,
    /** Per sending or standby IP, by its slot (`mx1-ip2`, `mx1-standby1`): its own ramp, or its warm-up paused. */
    ipWarmup: z.record(z.string(), ipWarmupSettings).default({}),
  })
  .strict();

/** One mistake in the tenant config: where (key path under the tenant), what was expected, and (optionally) what was found. */
export interface Problem {
  path: Array<string | number>;
  message: string;
  /** What was found, when the value at the path is not the whole story (default: that value). */
  found?: string;
}

/** `ipWarmup` names only this tenant's IPs, by slot (`mx1-ip2`, `mx1-standby1`). */
function ipWarmupChecks(t: { servers?: unknown; ipWarmup?: unknown }): Problem[] {
  const out: Problem[] = [];
  if (t?.ipWarmup && typeof t.ipWarmup === "object" && Array.isArray(t.servers)) {
    const slots = (t.servers as Array<{ name?: unknown; sendingIps?: unknown; standbyIps?: unknown }>).flatMap((s) => [
      ...Array.from(
        { length: typeof s?.sendingIps === "number" ? Math.min(s.sendingIps, MAX_IPS_PER_SERVER) : 0 },
        (_, k) => `${String(s?.name)}-ip${k + 1}`,
      ),
      ...Array.from(
        { length: typeof s?.standbyIps === "number" ? Math.min(s.standbyIps, 4) : 0 },
        (_, k) => `${String(s?.name)}-standby${k + 1}`,
      ),
    ]);
    for (const slot of Object.keys(t.ipWarmup))
      if (!slots.includes(slot))
        out.push({
          path: ["ipWarmup", slot],
          message: `expected a sending or standby IP of this tenant by its slot (${slots.join(", ") || "none: no IPs are configured"})`,
        });
  }
  return out;
}

/**
 * Where the domains' records go: the servers' host names (<server>.<first domain>) are published in
 * the tenant's zone, so the first domain must be inside it; a domain naming its zone must be inside that.
 */
function domainZoneChecks(t: { zone?: unknown; domains?: unknown }): Problem[] {
  const out: Problem[] = [];
  if (Array.isArray(t?.domains)) {
    t.domains.forEach((d: { name?: unknown; zone?: unknown }, i) => {
      // Only well-formed names: a malformed one already has its own line.
      if (!domain.safeParse(d?.name).success) return;
      const name = String(d.name);
      // The servers' host names are <server>.<first domain>, published in the tenant's zone.
      if (i === 0 && typeof t.zone === "string" && !inZone(name, t.zone))
        out.push({
          path: ["domains", 0, "name"],
          message: `expected the first domain inside the zone ${t.zone} (the servers' host names, mx1.<first domain>, are published there); list a domain of that zone first`,
        });
      if (typeof d.zone === "string" && domain.safeParse(d.zone).success && !inZone(name, d.zone))
        out.push({ path: ["domains", i, "zone"], message: `expected the zone that holds ${name} (${name} or a parent of it)` });
    });
  }
  return out;
}

/**
 * Checks across fields, run on the raw config whether or not the schema
 * passed, so that every problem is reported in one go.
 */
function crossChecks(raw: unknown, book: PriceBook): Problem[] {
  const t = raw as { zone?: unknown; servers?: unknown; domains?: unknown; ipWarmup?: unknown };
  const out: Problem[] = [];
  if (Array.isArray(t?.servers)) {
    const seen = new Set<unknown>();
    // Plans are priced from the checked-in price list (budgets are judged before anything is bought),
    // so a plan must be in it, with a price for the billing cycle.
    const plans = book.plans;
    t.servers.forEach((s: { name?: unknown; adoptIps?: unknown; sendingIps?: unknown; plan?: unknown; billingCycle?: unknown }, i) => {
      if (typeof s?.plan === "number" && Number.isInteger(s.plan) && s.plan > 0) {
        const plan = plans.find((p) => p.rid === s.plan);
        const cycle = (BILLING_CYCLES as readonly unknown[]).includes(s.billingCycle ?? "monthly")
          ? ((s.billingCycle ?? "monthly") as BillingCycle)
          : undefined;
        if (!plan)
          out.push({
            path: ["servers", i, "plan"],
            message: `expected a plan rid in the catalogue (${plans.map((p) => p.rid).join(", ")}; providers/hostwinds/catalog.json, refreshed by \`npm run fleet -- catalog\`)`,
          });
        else if (cycle && monthlyPriceUsd(plan, cycle) === undefined)
          out.push({ path: ["servers", i, "billingCycle"], message: `expected a billing cycle plan ${plan.rid} has a price for` });
      }
      if (typeof s?.name === "string" && seen.has(s.name))
        out.push({ path: ["servers", i, "name"], message: `expected a name not used by another server ("${s.name}" is used twice)` });
      seen.add(s?.name);
      const standby = (s as { standbyIps?: unknown }).standbyIps;
      if (typeof s?.sendingIps === "number" && typeof standby === "number" && s.sendingIps + standby > MAX_IPS_PER_SERVER) {
        out.push({
          path: ["servers", i, "standbyIps"],
          message: `expected sendingIps + standbyIps to be at most ${MAX_IPS_PER_SERVER} per server`,
        });
      }
      if (Array.isArray(s?.adoptIps) && typeof s.sendingIps === "number" && s.adoptIps.length > s.sendingIps) {
        out.push({ path: ["servers", i, "adoptIps"], message: `expected at most sendingIps (${s.sendingIps}) addresses` });
      }
    });
  }
  if (Array.isArray(t?.domains)) {
    // Two entries for one domain would be two sets of the same DNS records (the engine's "Duplicate resource URN").
    const seen = new Set<unknown>();
    t.domains.forEach((d: { name?: unknown }, i) => {
      if (typeof d?.name === "string" && seen.has(d.name))
        out.push({ path: ["domains", i, "name"], message: `expected a domain not listed before ("${d.name}" is listed twice)` });
      seen.add(d?.name);
    });
    for (const { domain: i, index: j } of duplicateMailboxes(t.domains as Array<{ mailboxes?: Array<{ localPart?: unknown }> }>))
      out.push({ path: ["domains", i, "mailboxes", j, "localPart"], message: "expected a local part not listed before on this domain" });
  }
  if (Array.isArray(t?.servers) && Array.isArray(t?.domains)) {
    const names = t.domains.map((d: { name?: unknown }) => d?.name);
    t.servers.forEach((s: { domainIps?: unknown; sendingIps?: unknown }, i) => {
      if (!s?.domainIps || typeof s.domainIps !== "object") return;
      for (const [d, n] of Object.entries(s.domainIps as Record<string, unknown>)) {
        if (!names.includes(d)) out.push({ path: ["servers", i, "domainIps", d], message: "expected one of the tenant's sending domains" });
        else if (typeof n === "number" && typeof s.sendingIps === "number" && n > s.sendingIps)
          out.push({
            path: ["servers", i, "domainIps", d],
            message: `expected a sending IP number from 1 to sendingIps (${s.sendingIps})`,
          });
      }
    });
    // MailU signs all of a server's domains with one selector (mailu.env DKIM_SELECTOR, a server-wide setting).
    const selectorOf = (d: { dkimSelector?: unknown }) => d?.dkimSelector ?? "pm1";
    const first = t.domains[0] as { name?: unknown; dkimSelector?: unknown } | undefined;
    t.domains.forEach((d: { dkimSelector?: unknown }, i) => {
      if (i > 0 && first && selectorOf(d) !== selectorOf(first))
        out.push({
          path: ["domains", i, "dkimSelector"],
          message: `expected "${String(selectorOf(first))}", the selector of domains[0] (${String(first.name)}): MailU signs every domain of a server with one DKIM selector (DKIM_SELECTOR)`,
        });
    });
  }
  return [...ipWarmupChecks(t), ...out, ...domainZoneChecks(t)];
}
export type Tenant = z.infer<typeof tenantSchema>;
export type TenantServer = Tenant["servers"][number];

/** The tenant's mailboxes over all its domains (the tier's `maxMailboxes` counts these). */
export const mailboxCount = (t: Pick<Tenant, "domains">): number => t.domains.reduce((n, d) => n + d.mailboxes.length, 0);

/** IPs a server pays for: sending and standby (both count toward the tier's IP limit too). */
export const billedIps = (s: Pick<TenantServer, "sendingIps" | "standbyIps">): number => s.sendingIps + s.standbyIps;

/**
 * What the tenant's config costs a month, priced with the checked-in price list (budgets are
 * judged before anything is bought); `ipMonthlyPriceUsd` is the `hostwinds:ipMonthlyPriceUsd` setting.
 */
export function declaredMonthlyCost(t: Tenant, book: PriceBook, ipMonthlyPriceUsd?: string | number): MonthlyCost {
  return monthlyCost(
    t.servers.map((s) => ({ name: s.name, plan: s.plan, billingCycle: s.billingCycle, sendingIps: billedIps(s) })),
    {
      ...book,
      ipMonthlyPriceUsd: ipMonthlyPriceUsd !== undefined && ipMonthlyPriceUsd !== "" ? Number(ipMonthlyPriceUsd) : book.ipMonthlyPriceUsd,
    },
  );
}

export class TenantConfigError extends Error {
  override readonly name = "TenantConfigError";
  constructor(
    readonly tenantStack: string,
    readonly lines: string[],
  ) {
    super(
      `stack ${tenantStack}: the tenant config has ${lines.length} problem${lines.length > 1 ? "s" : ""}; nothing was created:\n${lines.map((l) => `  ${l}`).join("\n")}`,
    );
  }
}

const shown = (v: unknown) => (v === undefined ? "nothing" : JSON.stringify(v));
const at = (root: unknown, path: Array<string | number>) =>
  path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), root);

const CONFIG_KEY = "penguinmails-infra:tenant";
const keyPath = (p: Array<string | number>, configKey = CONFIG_KEY) =>
  [configKey.split(":")[1], ...p.map((x) => (typeof x === "number" ? `[${x}]` : x))].join(".").replace(/\.\[/g, "[");

/** Each problem as its line: `<key path>: <expected>, found <value>` (the caller adds the stack). */
export function problemLines(raw: unknown, problems: Problem[], configKey = CONFIG_KEY): string[] {
  return problems.map(
    (c) =>
      `${keyPath(c.path, configKey)}: ${c.message === "Required" ? "a value is required" : c.message}, found ${c.found ?? shown(at(raw, c.path))}`,
  );
}

/**
 * The raw value of the tenant config key: stack config holds an object as JSON text; anything
 * else (a plain string, text that is not JSON) is returned as it is, for parseTenant to report
 * with the stack's name rather than the SDK's "not a valid JSON object" a minute later.
 */
export function rawTenantValue(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Validates the raw config value; throws TenantConfigError listing every problem. */
export function parseTenant(stack: string, raw: unknown, book: PriceBook, configKey = CONFIG_KEY): Tenant {
  if (raw === undefined || raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TenantConfigError(stack, [
      `${configKey}: expected the tenant object (id, tier, monthlyBudgetUsd, zone, domains, servers; see stacks/Pulumi.acme.yaml), found ${shown(raw ?? undefined)}`,
    ]);
  }
  const r = tenantSchema.safeParse(raw, {
    error: (i) => (i.code === "invalid_type" && i.input === undefined ? "Required" : undefined),
  });
  const cross = crossChecks(raw, book);
  if (r.success && cross.length === 0) return r.data;
  const issues = r.success ? [] : r.error.issues;
  const lines = [
    ...issues.flatMap((i) => {
      // zod 4 types a path as PropertyKey[]; a config parsed from YAML or JSON has no symbol keys.
      const path = i.path as Array<string | number>;
      return i.code === "unrecognized_keys"
        ? i.keys.map(
            (k) =>
              `${keyPath([...path, k], configKey)}: unknown key; expected one of the documented keys (docs/operators.md, "Tenant stacks")`,
          )
        : problemLines(raw, [{ path, message: i.message }], configKey);
    }),
    ...problemLines(raw, cross, configKey),
  ];
  throw new TenantConfigError(stack, lines);
}

/**
 * What the program itself refuses before anything is bought: a config over its tier's IP limits
 * (providers/model/tiers.ts) or over its monthly budget, priced like `declaredMonthlyCost`. The
 * policy pack checks the same on the resources, as a second guard for pipelines.
 */
export function limitProblems(t: Tenant, book: PriceBook, ipMonthlyPriceUsd?: string | number): Problem[] {
  const limits = DEFAULT_TIER_LIMITS[t.tier];
  const out: Problem[] = [];
  t.servers.forEach((s, i) => {
    if (billedIps(s) > limits.maxIpsPerServer)
      out.push({
        path: ["servers", i, "sendingIps"],
        message: `expected at most ${limits.maxIpsPerServer} IPs on one server on the ${t.tier} tier (sendingIps + standbyIps)`,
        found: `${billedIps(s)}`,
      });
  });
  const total = t.servers.reduce((n, s) => n + billedIps(s), 0);
  if (total > limits.maxSendingIps)
    out.push({
      path: ["servers"],
      message: `expected at most ${limits.maxSendingIps} sending and standby IPs in all on the ${t.tier} tier (or a larger tier)`,
      found: `${total}`,
    });
  const mailboxes = mailboxCount(t);
  if (mailboxes > limits.maxMailboxes)
    out.push({
      path: ["domains"],
      message: `expected at most ${limits.maxMailboxes} mailboxes in all on the ${t.tier} tier (remove some, or move to a larger tier)`,
      found: `${mailboxes}`,
    });
  const cost = declaredMonthlyCost(t, book, ipMonthlyPriceUsd).totalUsd;
  if (cost > t.monthlyBudgetUsd)
    out.push({
      path: ["monthlyBudgetUsd"],
      message: `expected at least $${cost.toFixed(2)}, what the config costs a month (over the budget by $${(cost - t.monthlyBudgetUsd).toFixed(2)}; remove servers or IPs, or raise the budget)`,
    });
  return out;
}
