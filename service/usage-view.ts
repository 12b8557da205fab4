/** Usage and capacity as the API and the console show them (./capacity.ts over the store's rows). */
import { Pool } from "pg";
import { defaultPriceBook } from "../providers/hostwinds/catalog";
import { MAX_IPS_PER_SERVER } from "../providers/model/tenant";
import { DEFAULT_WARMUP_CEILING } from "../providers/model/warmup";
import { CapacityAdvice, DaySent, anomalies, capacityAdvice, trendPerDay } from "./capacity";
import { dailyTotals, sendingIps, usageByIp } from "./store/usage";

const options = (now: Date) => ({
  now,
  ipMonthlyUsd: defaultPriceBook().ipMonthlyPriceUsd,
  ceiling: DEFAULT_WARMUP_CEILING,
  maxIpsPerServer: MAX_IPS_PER_SERVER,
});

/** Capacity of every tenant of the scope (those with sending IPs). */
export async function fleetCapacity(pool: Pool, tenants: string[] | "*", now = new Date()): Promise<CapacityAdvice[]> {
  const [ips, totals] = await Promise.all([sendingIps(pool, tenants), dailyTotals(pool, tenants, 7)]);
  const byTenant = new Map<string, typeof ips>();
  for (const i of ips) byTenant.set(i.tenant, [...(byTenant.get(i.tenant) ?? []), i]);
  const days = new Map<string, number[]>();
  for (const t of totals) days.set(t.tenant, [...(days.get(t.tenant) ?? []), t.sent]);
  return [...byTenant.entries()].map(([t, mine]) => capacityAdvice(t, mine, days.get(t) ?? [], options(now)));
}

/** One tenant's 90 days per IP (series, trend, anomalies) and its capacity. */
export async function tenantUsage(pool: Pool, tenant: string, now = new Date()) {
  const [rows, ips, totals] = await Promise.all([usageByIp(pool, tenant), sendingIps(pool, [tenant]), dailyTotals(pool, [tenant], 7)]);
  const series = new Map<string, DaySent[]>();
  for (const r of rows) series.set(r.ip, [...(series.get(r.ip) ?? []), { day: r.day, sent: r.sent }]);
  return {
    tenant,
    ips: [...series.entries()].map(([ip, days]) => ({ ip, days, trendPerDay: trendPerDay(days), anomalies: anomalies(days) })),
    capacity: capacityAdvice(
      tenant,
      ips,
      totals.map((t) => t.sent),
      options(now),
    ),
  };
}
