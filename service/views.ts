/**
 * What the API answers, as zod schemas: the OpenAPI document's response schemas are generated
 * from these (./openapi.ts), and the answers are typed by them.
 */
import { z } from "zod";
import { REQUEST_KINDS, RequestKind, STATUSES, Status } from "./requests";
import { PROBLEM_CODES, ProblemCode } from "./problems";

const at = z.string().describe("ISO 8601 time");
const nullableAt = at.nullable();

export const problemView = z
  .object({
    type: z.string().describe("urn:penguinmails:problem:<code>"),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(Object.keys(PROBLEM_CODES) as [ProblemCode, ...ProblemCode[]]),
    detail: z.string(),
    errors: z.array(z.object({ field: z.string().describe("query.days, body.records.3.day, …"), message: z.string() })).optional(),
  })
  .describe("RFC 9457 problem details");

export const requestView = z.object({
  id: z.string().uuid(),
  tenant: z.string(),
  requester: z.string(),
  kind: z.enum(REQUEST_KINDS as [RequestKind, ...RequestKind[]]),
  params: z.record(z.string(), z.unknown()),
  status: z.enum(STATUSES as unknown as [Status, ...Status[]]),
  hostwinds: z.record(z.string(), z.unknown()).nullable(),
  domain: z.string().nullable(),
  commit: z.string().nullable(),
  failureReason: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  timestamps: z.object(
    Object.fromEntries(
      ["requested", "confirmed", "purchasing", "releasing", "assigned", "released", "rejected", "failed", "cancelled"].map((s) => [
        s,
        nullableAt,
      ]),
    ),
  ),
});

export const requestDetailView = requestView.extend({
  events: z.array(z.object({ status: z.string(), at })),
  ips: z.array(z.object({ ip: z.string(), action: z.enum(["bought", "released"]), at })),
});

const cursor = z.string().nullable().describe("pass as ?cursor= for the next page; null on the last page");

export const requestPageView = z.object({ requests: z.array(requestView), nextCursor: cursor });

export const ipView = z.object({
  ip: z.string(),
  server: z.string(),
  role: z.enum(["sending", "standby", "paused"]),
  status: z.enum(["assigned", "released"]),
  ptr: z.string(),
  since: nullableAt,
  releasedAt: nullableAt,
  monthlyUsd: z.number(),
  warmup: z.object({
    day: z
      .number()
      .int()
      .nullable()
      .describe("the warm-up day: the N-th day the IP sends, by the usage reports (an idle IP stays where it stopped)"),
    maxMessages: z.number().int().nullable().describe("today's cap"),
    warmedUp: z.boolean().optional(),
    planDays: z.number().int().nullable().optional(),
    sentToday: z.number().int().optional().describe("by today's usage report"),
    restartedOn: z.string().nullable().optional().describe("the day its warm-up started over (recover_ip resume)"),
    heldOnRelay: z
      .number()
      .int()
      .nullable()
      .optional()
      .describe(
        "messages the warm-up cap holds for this IP on its server's relay, by the monitor's latest check of the server over SSH; null: the server was not checked yet (no MailU, or no pass since)",
      ),
  }),
  domains: z.array(z.string()).nullable().describe("the sending domains that leave from it; null: not known (MailU not installed)"),
  idle: z
    .boolean()
    .nullable()
    .describe(
      "a sending IP that carries no domain: billed (monthlyUsd), in SPF and warming up, sending nothing; add a domain or release it",
    ),
  lastCheck: z.record(z.string(), z.unknown()).nullable(),
  reputation: z
    .object({
      score: z.number().int().min(0).max(100),
      at: nullableAt,
      inputs: z.record(z.string(), z.unknown()),
      penalties: z.record(z.string(), z.number()),
    })
    .nullable()
    .optional()
    .describe("the latest reputation score (0-100) and what it was computed from; null until the first monitoring pass"),
});
export const reputationHistoryView = z.object({
  tenant: z.string(),
  ip: z.string(),
  days: z.array(
    z.object({
      day: z.string(),
      score: z.number().int(),
      lowest: z.number().int().describe("the day's lowest score"),
      at: z.string(),
      inputs: z.record(z.string(), z.unknown()).describe("what the day's latest score was computed from"),
      penalties: z.record(z.string(), z.number()).describe("what each input took off the 100"),
    }),
  ),
});
export const ipPageView = z.object({ ips: z.array(ipView), nextCursor: cursor });

export const settingsView = z.object({
  tenant: z.string(),
  autoEmergencySwitch: z.boolean(),
  switchBelowScore: z.number().int().nullable(),
});
export const recordedView = z.object({ recorded: z.number().int() });

export const unusedView = z.object({
  windowDays: z.number().int(),
  ips: z.array(
    z.object({
      tenant: z.string(),
      ip: z.string(),
      server: z.string(),
      role: z.string(),
      assignedSince: nullableAt,
      sentInWindow: z.number(),
      dailyAverage: z.number(),
      monthlyUsd: z.number(),
      suggestion: z.union([
        z.object({ kind: z.literal("release_ip"), params: z.object({ ip: z.string() }) }),
        z.object({ note: z.string() }),
      ]),
    }),
  ),
  monthlySavingsUsd: z.number().describe("over every unused IP in scope, not only this page"),
  nextCursor: cursor,
});

const money = z.number().describe("US dollars");
export const tenantCostView = z.object({
  tenant: z.string(),
  month: z.string().describe("YYYY-MM (UTC)"),
  monthToDateUsd: money,
  projectedUsd: money.describe("month to date plus what is held now for the rest of the month"),
  nextMonthUsd: money.describe("what is held now for a whole month, plus the open requests"),
  openRequestsUsd: money.describe("what the open requests add (negative: release) a month, at catalogue prices"),
  priceListChangeUsd: money.describe("next month's difference if what is held were renewed at today's catalogue prices"),
  byKind: z.object({ servers: money, ips: money, backups: money }).describe("this month's projection by kind"),
  budgetUsd: money.nullable(),
  budgetPct: z.number().nullable().describe("projected as a percentage of the budget"),
  assumptions: z.array(z.string()).describe("prices not from the catalogue"),
});
export const fleetCostView = z.object({
  tenants: z.number().int(),
  month: z.string(),
  monthToDateUsd: money,
  projectedUsd: money,
  nextMonthUsd: money,
  openRequestsUsd: money,
  priceListChangeUsd: money,
  overBudget: z.number().int().describe("tenants projected at or over their budget"),
});

export const costView = z.object({
  fleet: fleetCostView.describe("every tenant of the token's scope (or ?tenant=)"),
  tenants: z.array(tenantCostView).describe("this month and next for the tenants on this page"),
  rows: z.array(
    z.object({
      tenant: z.string(),
      month: z.string(),
      ips: z.number().int(),
      ipCostUsd: z.number(),
      idleIps: z.number().int(),
      idleCostUsd: z.number(),
    }),
  ),
  nextCursor: cursor,
});

export const incidentView = z.object({
  id: z.number().int(),
  tenant: z.string(),
  cause: z.string().describe("blocklist, smtp, certificate, unreachable, …"),
  status: z.enum(["open", "resolved"]),
  summary: z.string(),
  openedAt: at,
  resolvedAt: nullableAt,
  acknowledgedAt: nullableAt,
  acknowledgedBy: z.string().nullable(),
  channelsTold: z.number().int().describe("how many channels have been told (escalation)"),
});
export const incidentPageView = z.object({ incidents: z.array(incidentView), nextCursor: cursor });
export const incidentDetailView = incidentView.extend({
  timeline: z.array(
    z.object({
      at,
      kind: z.enum(["opened", "check", "action", "acknowledged", "notified", "escalated", "resolved"]),
      detail: z.string(),
    }),
  ),
});

export const capacityEntryView = z.object({
  tenant: z.string(),
  capPerDay: z.number().describe("what the sending IPs may send today under their warm-up caps"),
  recentPeakPerDay: z.number().describe("the busiest of the last 7 days"),
  usePct: z.number().nullable(),
  advice: z
    .object({
      moreIps: z.number().int(),
      monthlyUsd: money,
      why: z.string(),
      request: z
        .object({
          kind: z.literal("acquire_ips"),
          params: z.object({ server: z.string(), count: z.number().int() }),
          requester: z.string(),
        })
        .describe("POST it to /tenants/{tenant}/requests as it is"),
    })
    .nullable(),
  plans: z
    .array(
      z.object({
        server: z.string(),
        fromPlan: z.number().int(),
        toPlan: z.number().int().nullable().describe("null: no larger plan in the catalogue (add a server)"),
        name: z.string().nullable(),
        monthlyUsd: money.nullable().describe("the larger plan's monthly price at the server's billing cycle (catalogue)"),
        extraMonthlyUsd: money.nullable().describe("what it adds to the month"),
        why: z.string(),
        request: z
          .object({
            kind: z.literal("change_plan"),
            params: z.object({ server: z.string(), plan: z.number().int() }),
            requester: z.string(),
          })
          .nullable()
          .describe("POST it to /tenants/{tenant}/requests as it is"),
      }),
    )
    .optional()
    .describe("a larger plan for each server whose disk or memory is short by the monitor's latest check over SSH"),
});
export const capacityView = z.object({ tenants: z.array(capacityEntryView) });
export const tenantUsageView = z.object({
  tenant: z.string(),
  ips: z.array(
    z.object({
      ip: z.string(),
      days: z.array(z.object({ day: z.string(), sent: z.number().int() })),
      trendPerDay: z.number().describe("messages a day gained per day over the last 30 days"),
      anomalies: z.array(z.object({ day: z.string(), sent: z.number().int(), expected: z.number() })),
      bounceSpikes: z
        .array(
          z.object({ day: z.string(), sent: z.number().int(), bounced: z.number().int(), ratePct: z.number(), expectedPct: z.number() }),
        )
        .optional()
        .describe("days whose bounce rate is far above the IP's recent rate (3 standard deviations and 2 points, 10 bounces or more)"),
    }),
  ),
  capacity: capacityEntryView,
});

export const undeliveredView = z.object({
  events: z.array(
    z.object({
      id: z.number().int(),
      tenant: z.string(),
      sequence: z.number().int().nullable(),
      kind: z.string(),
      createdAt: at,
      attempts: z.number().int(),
      givenUp: z.boolean(),
      lastError: z.string().nullable(),
      body: z.unknown(),
    }),
  ),
  nextCursor: cursor,
});
export const redeliverView = z.object({ id: z.number().int(), delivered: z.boolean(), queued: z.boolean().optional() });

export const tokenView = z.object({
  id: z.number().int(),
  caller: z.string(),
  tenants: z.array(z.string()),
  createdAt: at,
  expiresAt: nullableAt,
  revokedAt: nullableAt,
  ratePerMinute: z.number().int().nullable(),
});
export const newTokenView = tokenView.extend({ token: z.string().describe("shown once; only its hash is kept") });
export const tokenPageView = z.object({ tokens: z.array(tokenView), nextCursor: cursor });

/** A record of a domain's verification (scripts/lib/verify/domain.ts). */
export const domainRecordView = z.object({
  type: z.string(),
  name: z.string(),
  expected: z.string(),
  authoritative: z.array(z.string()).describe("what each of the zone's authoritative servers answers"),
  resolvers: z.array(z.string()).describe("what each public resolver answers (propagation)"),
  state: z.enum(["ok", "propagating", "failing"]),
  hint: z.string().optional().describe("what to do, where the answers differ from the expected value"),
});
export const domainView = z.object({
  domain: z.string(),
  tenant: z.string(),
  zone: z.string().describe("the Cloudflare zone the domain's records are in"),
  status: z.enum(["pending", "verified", "failing"]),
  checkedAt: nullableAt,
  hints: z.array(z.string()),
  records: z.array(domainRecordView),
});
export const domainPageView = z.object({ domains: z.array(domainView), nextCursor: cursor });

export const mailboxView = z.object({
  address: z.string(),
  domain: z.string(),
  quotaMb: z.number().int(),
  enabled: z.boolean(),
  /** Where it logs in: submission 587 (STARTTLS) and 465 (TLS), IMAP 993 (TLS). Never its password. */
  host: z.string(),
});
export const mailboxPageView = z.object({ mailboxes: z.array(mailboxView), nextCursor: cursor });

export const tenantSummaryView = z.object({
  id: z.string(),
  status: z.enum(["onboarding", "active", "offboarding", "offboarded"]),
  createdAt: at,
  offboardedAt: nullableAt,
});
export const tenantPageView = z.object({ tenants: z.array(tenantSummaryView), nextCursor: cursor });
export const tenantView = z.object({
  id: z.string(),
  status: z.enum(["onboarding", "active", "offboarding", "offboarded"]),
  config: z.record(z.string(), z.unknown()).nullable().describe("the config it was onboarded with (null for a tenant made in YAML)"),
  servers: z.array(z.object({ server: z.string(), hostname: z.string(), mainIp: z.string() })),
  ips: z.array(z.object({ ip: z.string(), server: z.string(), role: z.string() })),
  domains: z.array(domainView),
  monthlyCostUsd: z.number().nullable(),
  openRequests: z.array(z.object({ id: z.string(), kind: z.string(), status: z.string() })),
  offboarding: z.record(z.string(), z.unknown()).nullable().describe("what offboarding left: final backups, servers and IPs released"),
});
