/**
 * The policies as pure functions over a stack's resources, so each can be
 * tested without the engine. They read only what is known during a preview
 * (types, tenants, plans, billing cycles, dependencies), never outputs that
 * are still unknown, and price with the one cost model.
 */
import { BillingCycle, PriceBook, monthlyCost } from "../providers/model/pricing";
import { DEFAULT_TIER_LIMITS, Tier, TierLimits } from "../providers/model/tiers";

// The resources' type tokens, from the model (the pack loads no resource class, nor @pulumi/pulumi's runtime).
import {
  DNS_RECORD_TYPE as DNS_RECORD,
  INSTANCE_TYPE as INSTANCE,
  SECONDARY_IP_TYPE as SECONDARY_IP,
  TENANT_PLAN_TYPE as TENANT_PLAN,
} from "../providers/model/resource-types";
import { defaultPriceBook } from "../providers/hostwinds/catalog";
export { DNS_RECORD, INSTANCE, SECONDARY_IP, TENANT_PLAN };

export interface StackResource {
  type: string;
  urn: string;
  name: string;
  props: Record<string, unknown>;
  /** For a SecondaryIp: the URN of the server it is on (from its serviceId dependency), else its parent's. */
  serverUrn?: string;
}

export interface PolicyConfig {
  /** Overrides of the default limits, per tier. */
  tiers?: Partial<Record<Tier, Partial<TierLimits>>>;
  /** Price of one sending IP per month (default: the cost model's). */
  ipMonthlyPriceUsd?: number;
}

export interface Violation {
  message: string;
  urn?: string;
}

interface TenantPlan {
  tenant: string;
  tier: Tier;
  monthlyBudgetUsd: number;
  servers?: number;
  sendingIps?: number;
  projectedMonthlyUsd?: number;
  mailboxes?: number;
}

export function limitsFor(tier: Tier, cfg: PolicyConfig = {}): TierLimits {
  return { ...DEFAULT_TIER_LIMITS[tier], ...(cfg.tiers?.[tier] ?? {}) };
}

function priceBook(cfg: PolicyConfig): PriceBook {
  const book = defaultPriceBook();
  return cfg.ipMonthlyPriceUsd === undefined ? book : { ...book, ipMonthlyPriceUsd: cfg.ipMonthlyPriceUsd };
}

function tenantPlan(resources: StackResource[]): TenantPlan | undefined {
  const r = resources.find((x) => x.type === TENANT_PLAN);
  return r ? (r.props as unknown as TenantPlan) : undefined;
}

const hostwindsResources = (resources: StackResource[]) => resources.filter((r) => r.type === INSTANCE || r.type === SECONDARY_IP);
const who = (p: TenantPlan) => `tenant ${p.tenant} (${p.tier})`;

/** Mandatory: sending IPs across the tenant's servers within the tier's limit. */
export function sendingIpsWithinTier(resources: StackResource[], cfg: PolicyConfig = {}): Violation[] {
  const plan = tenantPlan(resources);
  if (!plan) return [];
  const ips = resources.filter((r) => r.type === SECONDARY_IP).length;
  const { maxSendingIps } = limitsFor(plan.tier, cfg);
  if (ips <= maxSendingIps) return [];
  return [
    {
      message: `${who(plan)}: ${ips} sending IPs, the ${plan.tier} tier allows ${maxSendingIps}; remove ${ips - maxSendingIps} or move the tenant to a larger tier`,
    },
  ];
}

/**
 * Mandatory, per resource: what the tenant's config asks for (declared on its
 * TenantPlan) fits the tier and the budget. Checked before the plan is
 * recorded, and servers depend on the plan, so nothing is bought when it fails.
 */
export function declaredPlanWithinLimits(r: StackResource, cfg: PolicyConfig = {}): Violation[] {
  if (r.type !== TENANT_PLAN) return [];
  const plan = r.props as unknown as TenantPlan;
  const out: Violation[] = [];
  const { maxSendingIps } = limitsFor(plan.tier, cfg);
  if (plan.sendingIps !== undefined && plan.sendingIps > maxSendingIps) {
    out.push({
      urn: r.urn,
      message: `${who(plan)}: the config asks for ${plan.sendingIps} sending IPs, the ${plan.tier} tier allows ${maxSendingIps}; remove ${plan.sendingIps - maxSendingIps} or move the tenant to a larger tier`,
    });
  }
  const { maxMailboxes } = limitsFor(plan.tier, cfg);
  if (plan.mailboxes !== undefined && plan.mailboxes > maxMailboxes) {
    out.push({
      urn: r.urn,
      message: `${who(plan)}: the config asks for ${plan.mailboxes} mailboxes, the ${plan.tier} tier allows ${maxMailboxes}; remove ${plan.mailboxes - maxMailboxes} (domains[].mailboxes) or move the tenant to a larger tier`,
    });
  }
  if (plan.projectedMonthlyUsd !== undefined && plan.projectedMonthlyUsd > plan.monthlyBudgetUsd) {
    out.push({
      urn: r.urn,
      message: `${who(plan)}: the config costs $${plan.projectedMonthlyUsd.toFixed(2)}/month, over the budget of $${plan.monthlyBudgetUsd.toFixed(2)}/month by $${(plan.projectedMonthlyUsd - plan.monthlyBudgetUsd).toFixed(2)}; remove servers or IPs, or raise monthlyBudgetUsd`,
    });
  }
  return out;
}

/** Mandatory: sending IPs on each server within the tier's per-server limit. */
export function ipsPerServerWithinLimit(resources: StackResource[], cfg: PolicyConfig = {}): Violation[] {
  const plan = tenantPlan(resources);
  if (!plan) return [];
  const { maxIpsPerServer } = limitsFor(plan.tier, cfg);
  const byServer = new Map<string, number>();
  for (const r of resources.filter((x) => x.type === SECONDARY_IP)) {
    const key = r.serverUrn ?? "(unknown server)";
    byServer.set(key, (byServer.get(key) ?? 0) + 1);
  }
  return [...byServer]
    .filter(([, n]) => n > maxIpsPerServer)
    .map(([urn, n]) => ({
      urn,
      message: `${who(plan)}: server ${urn.split("::").pop()} has ${n} sending IPs, the ${plan.tier} tier allows ${maxIpsPerServer} per server; spread them over more servers`,
    }));
}

/** The projected monthly cost of the stack's Hostwinds resources, with the cost model. */
export function projectedMonthlyUsd(resources: StackResource[], cfg: PolicyConfig = {}): number {
  const servers = resources.filter((r) => r.type === INSTANCE);
  const ipsOn = (urn: string) => resources.filter((r) => r.type === SECONDARY_IP && r.serverUrn === urn).length;
  const strayIps = resources.filter((r) => r.type === SECONDARY_IP && !servers.some((s) => s.urn === r.serverUrn)).length;
  const book = priceBook(cfg);
  const cost = monthlyCost(
    servers.map((s) => ({
      name: s.name,
      plan: Number(s.props.plan),
      billingCycle: (s.props.billingCycle ?? "monthly") as BillingCycle,
      sendingIps: ipsOn(s.urn),
    })),
    book,
  );
  return Math.round((cost.totalUsd + strayIps * book.ipMonthlyPriceUsd) * 100) / 100;
}

/** Mandatory: projected monthly cost within the tenant's budget. */
export function monthlyCostWithinBudget(resources: StackResource[], cfg: PolicyConfig = {}): Violation[] {
  const plan = tenantPlan(resources);
  if (!plan) return [];
  const cost = projectedMonthlyUsd(resources, cfg);
  if (cost <= plan.monthlyBudgetUsd) return [];
  return [
    {
      message: `${who(plan)}: projected cost $${cost.toFixed(2)}/month is over the budget of $${plan.monthlyBudgetUsd.toFixed(2)}/month by $${(cost - plan.monthlyBudgetUsd).toFixed(2)}; remove servers or IPs, or raise monthlyBudgetUsd`,
    },
  ];
}

/** Mandatory: the stack says which tenant it is, and every Hostwinds resource belongs to that tenant. */
export function resourcesBelongToTenant(resources: StackResource[]): Violation[] {
  const hw = hostwindsResources(resources);
  const plans = resources.filter((r) => r.type === TENANT_PLAN);
  if (plans.length > 1)
    return [{ message: `the stack declares ${plans.length} tenants (TenantPlan resources); a stack is exactly one tenant` }];
  const plan = tenantPlan(resources);
  if (!plan)
    return hw.length
      ? [
          {
            message: `the stack has ${hw.length} Hostwinds resources but no TenantPlan saying which tenant it is; build it with the tenant program (stacks/)`,
          },
        ]
      : [];
  return hw
    .filter((r) => r.props.tenant !== plan.tenant)
    .map((r) => ({
      urn: r.urn,
      message: `${r.type.split(":").pop()} ${r.name} belongs to tenant ${String(r.props.tenant)}, but this stack is tenant ${plan.tenant}; a tenant cannot manage another's resources`,
    }));
}

/** Advisory: hourly billing costs more than monthly for a server that lives for months. */
export function hourlyBillingOnLongLivedServer(r: StackResource): Violation[] {
  if (r.type !== INSTANCE || r.props.billingCycle !== "hourly") return [];
  return [
    {
      urn: r.urn,
      message: `server ${r.name} of tenant ${String(r.props.tenant)} is billed hourly; a mail server lives for months, so monthly billing is cheaper`,
    },
  ];
}

/**
 * Advisory: a server that allows being replaced. A change that cannot be made in place (location,
 * billing cycle, another adopted server; an image change is a reinstall in place, hostwinds.OsImage) replaces such a server: the provider refuses it in
 * preview unless the tenant's config sets `allowReplace` on the server (providers/hostwinds/instance.ts),
 * so every server carrying the opt-in is named, with what replacing it would lose.
 */
export function replacementAllowed(resources: StackResource[]): Violation[] {
  return resources
    .filter((r) => r.type === INSTANCE && r.props.allowReplace === true)
    .map((r) => {
      const ips = resources.filter((x) => x.type === SECONDARY_IP && x.serverUrn === r.urn).length;
      return {
        urn: r.urn,
        message:
          `server ${r.name} of tenant ${String(r.props.tenant)} allows replacement (allowReplace): a change that cannot be made in place terminates it, ` +
          `losing its mail data and its ${ips} sending IP${ips === 1 ? "" : "s"} with their warm-up; remove allowReplace once the change is done`,
      };
    });
}

/**
 * Advisory: every sending domain (a name with an MX record) also has SPF, a
 * DKIM key and DMARC. Judged by record types and names, which are known in a
 * preview; contents may not be yet.
 */
export function sendingDomainsAuthenticated(resources: StackResource[]): Violation[] {
  const records = resources
    .filter((r) => r.type === DNS_RECORD)
    .map((r) => ({ type: String(r.props.type), name: String(r.props.name).toLowerCase() }));
  const has = (type: string, test: (name: string) => boolean) => records.some((r) => r.type === type && test(r.name));
  return [...new Set(records.filter((r) => r.type === "MX").map((r) => r.name))].flatMap((d) => {
    const missing = [
      has("TXT", (n) => n === d) ? undefined : "SPF (TXT at the domain)",
      has("TXT", (n) => n.endsWith(`._domainkey.${d}`)) ? undefined : `DKIM (TXT at <selector>._domainkey.${d})`,
      has("TXT", (n) => n === `_dmarc.${d}`) ? undefined : `DMARC (TXT at _dmarc.${d})`,
    ].filter(Boolean);
    return missing.length
      ? [{ message: `sending domain ${d} has no ${missing.join(", no ")}; receivers will treat its mail as unauthenticated` }]
      : [];
  });
}
