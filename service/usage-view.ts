/** Usage and capacity as the API and the console show them (./capacity.ts over the store's rows). */
import { Pool } from "pg";
import { defaultPriceBook } from "../providers/hostwinds/catalog";
import { MAX_IPS_PER_SERVER } from "../providers/model/tenant";
import { DEFAULT_WARMUP_CEILING } from "../providers/model/warmup";
import { CapacityAdvice, CatalogPlan, DaySent, anomalies, bounceSpikes, capacityAdvice, planAdvice, trendPerDay } from "./capacity";
import { dailyTotals, sendingIps, usageByIp } from "./store/usage";
import { checkedServers } from "./store/monitoring";
import { shortOf } from "./server-checks";

const options = (now: Date) => ({
  now,
  ipMonthlyUsd: defaultPriceBook().ipMonthlyPriceUsd,
  ceiling: DEFAULT_WARMUP_CEILING,
  maxIpsPerServer: MAX_IPS_PER_SERVER,
});

/** Each tenant's servers whose disk or memory is short by their latest check, with a larger plan each. */
async function plansByTenant(pool: Pool, tenants: string[] | "*"): Promise<Map<string, ReturnType<typeof planAdvice>>> {
  const plans = defaultPriceBook().plans as unknown as CatalogPlan[];
  const out = new Map<string, ReturnType<typeof planAdvice>>();
  for (const s of await checkedServers(pool, tenants)) {
    const short = shortOf(s.last_check);
    const a = planAdvice(
      [{ server: s.server, plan: s.plan, billingCycle: s.billing_cycle, monthlyUsd: Number(s.monthly_usd), ...short }],
      plans,
    );
    if (a.length) out.set(s.tenant, [...(out.get(s.tenant) ?? []), ...a]);
  }
  return out;
}

/** Capacity of every tenant of the scope (those with sending IPs). */
export async function fleetCapacity(pool: Pool, tenants: string[] | "*", now = new Date()): Promise<CapacityAdvice[]> {
  const [ips, totals, plans] = await Promise.all([sendingIps(pool, tenants), dailyTotals(pool, tenants, 7), plansByTenant(pool, tenants)]);
  const byTenant = new Map<string, typeof ips>();
  for (const i of ips) byTenant.set(i.tenant, [...(byTenant.get(i.tenant) ?? []), i]);
  const days = new Map<string, number[]>();
  for (const t of totals) days.set(t.tenant, [...(days.get(t.tenant) ?? []), t.sent]);
  return [...byTenant.entries()].map(([t, mine]) => ({
    ...capacityAdvice(t, mine, days.get(t) ?? [], options(now)),
    plans: plans.get(t) ?? [],
  }));
}

/** One tenant's 90 days per IP (series, trend, anomalies) and its capacity. */
export async function tenantUsage(pool: Pool, tenant: string, now = new Date()) {
  const [rows, ips, totals, plans] = await Promise.all([
    usageByIp(pool, tenant),
    sendingIps(pool, [tenant]),
    dailyTotals(pool, [tenant], 7),
    plansByTenant(pool, [tenant]),
  ]);
  const series = new Map<string, Array<DaySent & { bounced: number }>>();
  for (const r of rows) series.set(r.ip, [...(series.get(r.ip) ?? []), { day: r.day, sent: r.sent, bounced: r.bounced }]);
  return {
    tenant,
    ips: [...series.entries()].map(([ip, days]) => ({
      ip,
      days: days.map((d) => ({ day: d.day, sent: d.sent })),
      trendPerDay: trendPerDay(days),
      anomalies: anomalies(days),
      bounceSpikes: bounceSpikes(days),
    })),
    capacity: {
      ...capacityAdvice(
        tenant,
        ips,
        totals.map((t) => t.sent),
        options(now),
      ),
      plans: plans.get(tenant) ?? [],
    },
  };
}
