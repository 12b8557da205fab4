/**
 * What IPs send and what they cost: the platform reports each IP's daily sent volume, kept 90
 * days; an IP assigned for a whole window and sending (almost) nothing in it is unused, and
 * releasing it saves its monthly price. The cost report prices each tenant's IPs per month from
 * the same tables (an IP is billed for every month it was held, as Hostwinds bills monthly).
 */
import { z } from "zod";
import { IPV4 } from "../providers/model/names";
import { Queryable } from "../scripts/lib/postgres/index";

export const USAGE_DAYS_KEPT = 90;

export const usageRecord = z
  .object({
    tenant: z.string().min(1),
    ip: z.string().regex(IPV4, "expected an IPv4 address"),
    day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected a day as YYYY-MM-DD"),
    sent: z.number().int().min(0),
  })
  .strict();
export type UsageRecord = z.infer<typeof usageRecord>;

export async function recordUsage(c: Queryable, records: UsageRecord[]): Promise<number> {
  for (const r of records)
    await c.query(
      "insert into ip_usage (tenant, ip, day, sent) values ($1, $2, $3, $4) on conflict (tenant, ip, day) do update set sent = excluded.sent",
      [r.tenant, r.ip, r.day, r.sent],
    );
  await c.query(`delete from ip_usage where day < current_date - ${USAGE_DAYS_KEPT}`);
  return records.length;
}

export interface UnusedOptions {
  tenants: string[] | "*";
  /** The window looked at, in days (default 14). */
  days?: number;
  /** An IP sending on average fewer messages a day than this over the window is unused (default 1). */
  belowDailyAverage?: number;
}

export interface UnusedIp {
  tenant: string;
  ip: string;
  server: string;
  role: string;
  assignedSince: string | null;
  sentInWindow: number;
  dailyAverage: number;
  monthlyUsd: number;
  suggestion: { kind: "release_ip"; params: { ip: string } } | { note: string };
}

/** Assigned IPs held the whole window that sent less than the threshold in it. */
export async function unusedIps(
  c: Queryable,
  o: UnusedOptions,
): Promise<{ windowDays: number; ips: UnusedIp[]; monthlySavingsUsd: number }> {
  const days = o.days ?? 14;
  const below = o.belowDailyAverage ?? 1;
  const { rows } = await c.query<{
    tenant: string;
    ip: string;
    server: string;
    role: string;
    slot: number;
    since: Date | null;
    monthly_usd: string;
    sent: string;
    last_slot: number;
  }>(
    `select t.tenant, t.ip, t.server, t.role, t.slot, t.since, t.monthly_usd,
            coalesce((select sum(u.sent) from ip_usage u where u.tenant = t.tenant and u.ip = t.ip and u.day > current_date - $1::int), 0) as sent,
            (select max(x.slot) from tenant_ips x where x.tenant = t.tenant and x.server = t.server and x.status = 'assigned'
               and (x.role = 'standby') = (t.role = 'standby')) as last_slot
       from tenant_ips t
      where t.status = 'assigned' and ($2::text[] is null or t.tenant = any($2::text[]))
        and (t.since is null or t.since <= now() - make_interval(days => $1::int))
      order by t.tenant, t.server, t.ip`,
    [days, o.tenants === "*" ? null : o.tenants],
  );
  const ips = rows
    .map((r): UnusedIp => {
      const sent = Number(r.sent);
      return {
        tenant: r.tenant,
        ip: r.ip,
        server: r.server,
        role: r.role,
        assignedSince: r.since ? new Date(r.since).toISOString() : null,
        sentInWindow: sent,
        dailyAverage: Math.round((sent / days) * 100) / 100,
        monthlyUsd: Number(r.monthly_usd),
        suggestion:
          r.slot === r.last_slot
            ? { kind: "release_ip", params: { ip: r.ip } }
            : {
                note: `${r.ip} is not the last IP slot on server ${r.server}; release the last one if it is idle too, or retire ${r.ip} (retire_ip)`,
              },
      };
    })
    .filter((u) => u.dailyAverage < below);
  return { windowDays: days, ips, monthlySavingsUsd: Math.round(ips.reduce((s, u) => s + u.monthlyUsd, 0) * 100) / 100 };
}

export interface CostRow {
  tenant: string;
  month: string;
  ips: number;
  ipCostUsd: number;
  idleIps: number;
  idleCostUsd: number;
}

/**
 * IP cost by tenant and month: every month an IP was held (from its `since` to its release or now)
 * at its monthly price; idle = it sent nothing that month by the usage reports.
 */
export async function costReport(c: Queryable, tenants: string[] | "*", months = 6): Promise<CostRow[]> {
  const { rows } = await c.query<{ tenant: string; month: string; ips: string; cost: string; idle_ips: string; idle_cost: string }>(
    `with months as (
       select generate_series(date_trunc('month', now()) - make_interval(months => $1::int - 1), date_trunc('month', now()), interval '1 month') as m
     ), held as (
       select t.tenant, t.ip, t.monthly_usd, m.m
         from tenant_ips t join months m
           on date_trunc('month', coalesce(t.since, t.updated_at)) <= m.m
          and (t.released_at is null or t.released_at >= m.m)
        where ($2::text[] is null or t.tenant = any($2::text[]))
     )
     select h.tenant, to_char(h.m, 'YYYY-MM') as month, count(*) as ips, sum(h.monthly_usd) as cost,
            count(*) filter (where not exists (select 1 from ip_usage u where u.tenant = h.tenant and u.ip = h.ip and u.sent > 0
                                                 and u.day >= h.m and u.day < h.m + interval '1 month')) as idle_ips,
            coalesce(sum(h.monthly_usd) filter (where not exists (select 1 from ip_usage u where u.tenant = h.tenant and u.ip = h.ip and u.sent > 0
                                                 and u.day >= h.m and u.day < h.m + interval '1 month')), 0) as idle_cost
       from held h group by h.tenant, h.m order by h.tenant, h.m`,
    [months, tenants === "*" ? null : tenants],
  );
  return rows.map((r) => ({
    tenant: r.tenant,
    month: r.month,
    ips: Number(r.ips),
    ipCostUsd: Number(r.cost),
    idleIps: Number(r.idle_ips),
    idleCostUsd: Number(r.idle_cost),
  }));
}
