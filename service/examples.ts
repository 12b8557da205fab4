/**
 * An example request and answer for every operation, by operationId, as the OpenAPI document
 * shows them (./openapi.ts). Each is checked by the very schema that validates the call or types
 * the answer (test/unit/service-openapi-examples.test.ts), so an example cannot drift from the API.
 * One tenant runs through them: acme, on the growth tier, sending from two domains in two zones.
 */

export interface OperationExample {
  /** A body the route takes. */
  request?: unknown;
  /** Its successful answer. */
  response?: unknown;
}

const AT = "2026-11-30T09:14:03.000Z";
const LATER = "2026-11-30T09:16:41.000Z";
const REQUEST_ID = "7c1e2f4a-3b5d-4e6f-8a9b-0c1d2e3f4a5b";
const noTimes = {
  confirmed: null,
  purchasing: null,
  releasing: null,
  assigned: null,
  released: null,
  rejected: null,
  failed: null,
  cancelled: null,
};

/** A request as it is answered when just recorded (202). */
const request = (kind: string, params: Record<string, unknown>) => ({
  id: REQUEST_ID,
  tenant: "acme",
  requester: "platform:user-481",
  kind,
  params,
  status: "requested",
  hostwinds: null,
  domain: null,
  commit: null,
  failureReason: null,
  result: null,
  timestamps: { requested: AT, ...noTimes },
});

const verifiedDomain = {
  domain: "tryacme.io",
  tenant: "acme",
  zone: "tryacme.io",
  status: "verified",
  checkedAt: LATER,
  hints: [],
  records: [
    {
      type: "MX",
      name: "tryacme.io",
      expected: "10 mx1.acme-mail.com",
      authoritative: ["10 mx1.acme-mail.com"],
      resolvers: ["10 mx1.acme-mail.com"],
      state: "ok",
    },
    {
      type: "TXT",
      name: "tryacme.io",
      expected: "v=spf1 ip4:203.0.113.21 ip4:203.0.113.22 -all",
      authoritative: ["v=spf1 ip4:203.0.113.21 ip4:203.0.113.22 -all"],
      resolvers: ["v=spf1 ip4:203.0.113.21 ip4:203.0.113.22 -all"],
      state: "ok",
    },
  ],
};

const failingDomain = {
  ...verifiedDomain,
  status: "failing",
  hints: [
    "a conflicting TXT record at _dmarc.tryacme.io (v=DMARC1; p=none), made by hand or by another tool; delete it in Cloudflare, the next apply of the tenant writes the expected one",
  ],
  records: [
    {
      type: "TXT",
      name: "_dmarc.tryacme.io",
      expected: "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@acme-mail.com",
      authoritative: ["v=DMARC1; p=none"],
      resolvers: ["v=DMARC1; p=none"],
      state: "failing",
      hint: "a conflicting TXT record at _dmarc.tryacme.io (v=DMARC1; p=none), made by hand or by another tool; delete it in Cloudflare, the next apply of the tenant writes the expected one",
    },
  ],
};

/** What a reputation score is computed from (service/reputation.ts): two lists, 7 days of usage reports, the warm-up. */
const REPUTATION_INPUTS = {
  blocklists: [
    { list: "zen.spamhaus.org", verdict: "not listed" },
    { list: "b.barracudacentral.org", verdict: "unknown" },
  ],
  usage: { days: 7, sent: 1890, bounced: 23, complained: 0 },
  warmup: { day: 12, planDays: 30 },
  bounceRate: 0.0122,
  complaintRate: 0,
  warmupProgress: 0.4,
};

const incident = {
  id: 42,
  tenant: "acme",
  cause: "blocklist",
  status: "open",
  summary: "203.0.113.21 listed on zen.spamhaus.org",
  openedAt: AT,
  resolvedAt: null,
  acknowledgedAt: null,
  acknowledgedBy: null,
  channelsTold: 1,
};
const incidentDetail = {
  ...incident,
  timeline: [
    { at: AT, kind: "opened", detail: "203.0.113.21 listed on zen.spamhaus.org" },
    { at: AT, kind: "notified", detail: "webhook" },
  ],
};

const token = {
  id: 7,
  caller: "platform-billing",
  tenants: ["acme", "globex"],
  createdAt: AT,
  expiresAt: "2027-11-30T09:14:03.000Z",
  revokedAt: null,
  ratePerMinute: 600,
};

const tenantCost = {
  tenant: "acme",
  month: "2026-11",
  monthToDateUsd: 61.4,
  projectedUsd: 68.2,
  nextMonthUsd: 68.2,
  openRequestsUsd: 0,
  priceListChangeUsd: 0,
  byKind: { servers: 59.99, ips: 6, backups: 2.21 },
  budgetUsd: 120,
  budgetPct: 56.83,
  assumptions: ["backup storage at $0.005/GB-month [assumed]"],
};

const capacity = {
  tenant: "acme",
  capPerDay: 100,
  recentPeakPerDay: 96,
  usePct: 96,
  advice: {
    moreIps: 1,
    monthlyUsd: 3,
    why: "the busiest of the last 7 days used 96% of today's warm-up caps",
    request: { kind: "acquire_ips", params: { server: "mx1", count: 1 }, requester: "capacity advice" },
  },
  plans: [
    {
      server: "mx1",
      fromPlan: 101,
      toPlan: 102,
      name: "Unmanaged Linux 2GB",
      monthlyUsd: 9.99,
      extraMonthlyUsd: 5,
      why: "mx1: 6.1% of memory available; plan 102 (Unmanaged Linux 2GB, 2 GB memory, 50 GB disk) upgrades it in place",
      request: { kind: "change_plan", params: { server: "mx1", plan: 102 }, requester: "capacity advice" },
    },
  ],
};

/** Every operation's example; test/unit/service-openapi-examples.test.ts requires one wherever a route has a body or a JSON answer. */
export const EXAMPLES: Record<string, OperationExample> = {
  health: { response: { ok: true } },
  ready: { response: { ready: true } },
  submitRequest: {
    request: { kind: "acquire_ips", params: { server: "mx1", count: 1 }, requester: "platform:user-481" },
    response: request("acquire_ips", { server: "mx1", count: 1 }),
  },
  listRequests: { response: { requests: [request("pause_ip", { ip: "203.0.113.21" })], nextCursor: null } },
  getRequest: {
    response: {
      ...request("acquire_ips", { server: "mx1", count: 1 }),
      status: "assigned",
      commit: "3f9c2a1",
      result: { ips: ["203.0.113.23"] },
      timestamps: { ...request("acquire_ips", {}).timestamps, confirmed: AT, purchasing: AT, assigned: LATER },
      events: [
        { status: "requested", at: AT },
        { status: "confirmed", at: AT },
        { status: "purchasing", at: AT },
        { status: "assigned", at: LATER },
      ],
      ips: [{ ip: "203.0.113.23", action: "bought", at: LATER }],
    },
  },
  cancelRequest: {
    response: {
      ...request("acquire_ips", { server: "mx1", count: 1 }),
      status: "cancelled",
      timestamps: { requested: AT, ...noTimes, cancelled: LATER },
    },
  },
  listIps: {
    response: {
      ips: [
        {
          ip: "203.0.113.21",
          server: "mx1",
          role: "sending",
          status: "assigned",
          ptr: "mx1-ip1.acme-mail.com",
          since: "2026-11-02T10:00:00.000Z",
          releasedAt: null,
          monthlyUsd: 3,
          warmup: { day: 12, maxMessages: 300, warmedUp: false, planDays: 30, sentToday: 214, restartedOn: null, heldOnRelay: 0 },
          domains: ["acme-mail.com"],
          idle: false,
          lastCheck: { blocklist: "not listed", details: [] },
          reputation: {
            score: 92,
            at: AT,
            inputs: REPUTATION_INPUTS,
            penalties: { blocklists: 0, bounces: 0, complaints: 0, warmup: 8 },
          },
        },
      ],
      nextCursor: null,
    },
  },
  saveSettings: {
    request: { autoEmergencySwitch: true, switchBelowScore: 60 },
    response: { tenant: "acme", autoEmergencySwitch: true, switchBelowScore: 60 },
  },
  setIpWarmup: {
    request: { startVolume: 30, dailyGrowthPercent: 25, ceiling: 1500, requester: "platform:user-481" },
    response: request("set_warmup", { ip: "203.0.113.21", startVolume: 30, dailyGrowthPercent: 25, ceiling: 1500 }),
  },
  ipReputationHistory: {
    response: {
      tenant: "acme",
      ip: "203.0.113.21",
      days: [
        {
          day: "2026-11-29",
          score: 92,
          lowest: 88,
          at: AT,
          inputs: REPUTATION_INPUTS,
          penalties: { blocklists: 0, bounces: 0, complaints: 0, warmup: 8 },
        },
      ],
    },
  },
  listMailboxes: {
    response: {
      mailboxes: [{ address: "sales@acme-mail.com", domain: "acme-mail.com", quotaMb: 2048, enabled: true, host: "mx1.acme-mail.com" }],
      nextCursor: null,
    },
  },
  addMailbox: {
    request: { localPart: "sales", quotaMb: 2048, enabled: true, requester: "platform:user-481" },
    response: request("add_mailbox", { domain: "acme-mail.com", localPart: "sales", quotaMb: 2048, enabled: true }),
  },
  changeMailbox: {
    request: { quotaMb: 4096 },
    response: request("change_mailbox", { address: "sales@acme-mail.com", quotaMb: 4096 }),
  },
  removeMailbox: { response: request("remove_mailbox", { address: "sales@acme-mail.com" }) },
  rotateMailboxPassword: { request: {}, response: request("rotate_mailbox", { address: "sales@acme-mail.com" }) },
  reportUsage: {
    request: {
      records: [
        { tenant: "acme", ip: "203.0.113.21", day: "2026-11-29", sent: 287 },
        { tenant: "acme", ip: "203.0.113.22", day: "2026-11-29", sent: 291 },
      ],
    },
    response: { recorded: 2 },
  },
  listUnusedIps: {
    response: {
      windowDays: 14,
      ips: [
        {
          tenant: "acme",
          ip: "203.0.113.24",
          server: "mx1",
          role: "sending",
          assignedSince: "2026-10-01T08:00:00.000Z",
          sentInWindow: 0,
          dailyAverage: 0,
          monthlyUsd: 3,
          suggestion: { kind: "release_ip", params: { ip: "203.0.113.24" } },
        },
      ],
      monthlySavingsUsd: 3,
      nextCursor: null,
    },
  },
  costReport: {
    response: {
      fleet: {
        tenants: 1,
        month: "2026-11",
        monthToDateUsd: 61.4,
        projectedUsd: 68.2,
        nextMonthUsd: 68.2,
        openRequestsUsd: 0,
        priceListChangeUsd: 0,
        overBudget: 0,
      },
      tenants: [tenantCost],
      rows: [{ tenant: "acme", month: "2026-11", ips: 2, ipCostUsd: 6, idleIps: 0, idleCostUsd: 0 }],
      nextCursor: null,
    },
  },
  tenantUsage: {
    response: {
      tenant: "acme",
      ips: [
        {
          ip: "203.0.113.21",
          days: [
            { day: "2026-11-28", sent: 270 },
            { day: "2026-11-29", sent: 287 },
          ],
          trendPerDay: 8.5,
          anomalies: [],
          bounceSpikes: [{ day: "2026-11-29", sent: 287, bounced: 31, ratePct: 10.8, expectedPct: 1.2 }],
        },
      ],
      capacity,
    },
  },
  capacityReport: { response: { tenants: [capacity] } },
  listIncidents: { response: { incidents: [incident], nextCursor: null } },
  getIncident: { response: incidentDetail },
  acknowledgeIncident: {
    request: { by: "ops:dana" },
    response: { ...incidentDetail, acknowledgedAt: LATER, acknowledgedBy: "ops:dana" },
  },
  listUndeliveredWebhooks: {
    response: {
      events: [
        {
          id: 9001,
          tenant: "acme",
          sequence: 57,
          kind: "request.status",
          createdAt: AT,
          attempts: 12,
          givenUp: false,
          lastError: "HTTP 503 from the receiver",
          body: { event: "request.status", sequence: 57, request: { id: REQUEST_ID, status: "assigned" } },
        },
      ],
      nextCursor: null,
    },
  },
  redeliverWebhook: { request: {}, response: { id: 9001, delivered: false, queued: true } },
  listTokens: { response: { tokens: [token], nextCursor: null } },
  createToken: {
    request: { caller: "platform-billing", tenants: ["acme", "globex"], expiresInDays: 365, ratePerMinute: 600 },
    response: { ...token, token: "pm_4f1c9e0b7a2d4c8e9f3a6b5d1e0c7a9f" },
  },
  revokeToken: { response: { ...token, revokedAt: LATER } },
  listDomains: { response: { domains: [verifiedDomain], nextCursor: null } },
  getDomain: { response: verifiedDomain },
  addDomain: {
    request: { name: "acmeoutreach.com", dmarcPolicy: "reject", requester: "platform:user-481" },
    response: request("add_domain", { name: "acmeoutreach.com", dmarcPolicy: "reject" }),
  },
  removeDomain: { response: request("remove_domain", { domain: "acmeoutreach.com" }) },
  verifyDomain: { request: {}, response: failingDomain },
  onboardTenant: {
    request: {
      id: "acme",
      tier: "growth",
      monthlyBudgetUsd: 120,
      zone: "acme-mail.com",
      domains: [{ name: "acme-mail.com", dmarcPolicy: "quarantine" }, { name: "tryacme.io" }],
      servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2 }],
    },
    response: request("create_tenant", { id: "acme" }),
  },
  listTenants: { response: { tenants: [{ id: "acme", status: "active", createdAt: AT, offboardedAt: null }], nextCursor: null } },
  getTenant: {
    response: {
      id: "acme",
      status: "active",
      config: { id: "acme", tier: "growth", monthlyBudgetUsd: 120, zone: "acme-mail.com" },
      servers: [{ server: "mx1", hostname: "mx1.acme-mail.com", mainIp: "198.51.100.10" }],
      ips: [
        { ip: "203.0.113.21", server: "mx1", role: "sending" },
        { ip: "203.0.113.22", server: "mx1", role: "sending" },
      ],
      domains: [verifiedDomain],
      monthlyCostUsd: 68.2,
      openRequests: [],
      offboarding: null,
    },
  },
  offboardTenant: { response: request("delete_tenant", { force: false }) },
};
