/**
 * What IPs send and what they cost: the platform reports each IP's daily sent volume (and of it, bounces
 * and complaints: the reputation score's rates), kept 90
 * days; an IP assigned for a whole window and sending (almost) nothing in it is unused, and
 * releasing it saves its monthly price. The cost report prices each tenant's IPs per month from
 * the same tables (an IP is billed for every month it was held, as Hostwinds bills monthly).
 */
import { z } from "zod";
import { IPV4 } from "../../providers/model/names";
import { Queryable } from "../../scripts/lib/postgres/index";

export const USAGE_DAYS_KEPT = 90;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** A real calendar day (2026-02-30 is not). */
const isRealDay = (d: string) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d);

/**
 * What is wrong with a day of usage, or undefined: not a calendar day, in the future (UTC), or
 * older than the days kept (it would be pruned at once). A batch judges each distinct day once.
 */
export function badUsageDay(d: string, now = new Date()): string | undefined {
  if (!isRealDay(d)) return "not a calendar day";
  if (d > now.toISOString().slice(0, 10)) return "a day in the future";
  if (d < new Date(now.getTime() - (USAGE_DAYS_KEPT - 1) * 86_400_000).toISOString().slice(0, 10))
    return `older than the ${USAGE_DAYS_KEPT} days kept`;
  return undefined;
}

/** One record's shape; the day's calendar checks are made per batch (usageBatch in ../schemas.ts), once per distinct day. */
export const usageRecord = z
  .object({
    tenant: z.string().min(1).max(63),
    ip: z.string().regex(IPV4, "expected an IPv4 address"),
    day: z.string().regex(DAY, "expected a day as YYYY-MM-DD"),
    sent: z.number().int().min(0).max(2_000_000_000),
    /** Of those, how many bounced and how many recipients complained (the reputation score's rates). */
    bounced: z.number().int().min(0).max(2_000_000_000).default(0),
    complained: z.number().int().min(0).max(2_000_000_000).default(0),
  })
  .strict()
  .superRefine((r, ctx) => {
    for (const k of ["bounced", "complained"] as const)
      if (r[k] > r.sent) ctx.addIssue({ code: "custom", path: [k], message: `expected at most the ${r.sent} sent that day` });
  });
export type UsageRecord = z.infer<typeof usageRecord>;

/** The records (by index) naming an IP that is not the tenant's (as its stack's outputs said). */
export async function foreignRecords(c: Queryable, records: UsageRecord[]): Promise<number[]> {
  const { rows } = await c.query<{ i: number }>(
    `select r.i from unnest($1::text[], $2::text[]) with ordinality as r(tenant, ip, i)
      where not exists (select 1 from tenant_ips t where t.tenant = r.tenant and t.ip = r.ip) order by r.i limit 100`,
    [records.map((r) => r.tenant), records.map((r) => r.ip)],
  );
  return rows.map((r) => Number(r.i) - 1);
}

/** Writes the batch in one statement (all or nothing); a repeated day replaces the earlier figure. */
export async function recordUsage(c: Queryable, records: UsageRecord[]): Promise<number> {
  const r = await c.query(
    `insert into ip_usage (tenant, ip, day, sent, bounced, complained)
     select * from unnest($1::text[], $2::text[], $3::date[], $4::int[], $5::int[], $6::int[])
     on conflict (tenant, ip, day) do update set sent = excluded.sent, bounced = excluded.bounced, complained = excluded.complained`,
    [
      records.map((x) => x.tenant),
      records.map((x) => x.ip),
      records.map((x) => x.day),
      records.map((x) => x.sent),
      records.map((x) => x.bounced),
      records.map((x) => x.complained),
    ],
  );
  return r.rowCount ?? records.length;
}

/** Deletes usage older than USAGE_DAYS_KEPT; returns how many rows. */
export async function pruneUsage(c: Queryable): Promise<number> {
  return (await c.query("delete from ip_usage where day < current_date - $1::int", [USAGE_DAYS_KEPT])).rowCount ?? 0;
}

export interface UnusedOptions {
  tenants: string[] | "*";
  /** The window looked at, in days (default 14). */
  days?: number;
  /** An IP sending on average fewer messages a day than this over the window is unused (default 1). */
  belowDailyAverage?: number;
  /** The page: after this (tenant, ip), at most `limit` IPs. */
  after?: { tenant: string; ip: string };
  limit?: number;
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

/** Assigned IPs held the whole window that sent less than the threshold in it, by (tenant, ip). */
export async function unusedIps(
  c: Queryable,
  o: UnusedOptions,
): Promise<{ windowDays: number; ips: UnusedIp[]; monthlySavingsUsd: number; more: boolean }> {
  const days = o.days ?? 14;
  const below = o.belowDailyAverage ?? 1;
  const limit = o.limit ?? 100;
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
    savings: string;
  }>(
    `select * from (
       select u.*, sum(u.monthly_usd) over () as savings from (
         select t.tenant, t.ip, t.server, t.role, t.slot, t.since, t.monthly_usd,
                coalesce((select sum(u.sent) from ip_usage u where u.tenant = t.tenant and u.ip = t.ip and u.day > current_date - $1::int), 0) as sent,
                (select max(x.slot) from tenant_ips x where x.tenant = t.tenant and x.server = t.server and x.status = 'assigned'
                   and (x.role = 'standby') = (t.role = 'standby')) as last_slot
           from tenant_ips t
          where t.status = 'assigned' and ($2::text[] is null or t.tenant = any($2::text[]))
            and (t.since is null or t.since <= now() - make_interval(days => $1::int))) u
        where round(u.sent::numeric / $1::int, 2) < $3::numeric) w
      where $4::text is null or (w.tenant, w.ip) > ($4::text, $5::text)
      order by w.tenant, w.ip limit $6`,
    [days, o.tenants === "*" ? null : o.tenants, below, o.after?.tenant ?? null, o.after?.ip ?? null, limit + 1],
  );
  const ips = rows.slice(0, limit).map((r): UnusedIp => {
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
  });
  // Savings over every unused IP of the scope, not only this page.
  const savings = rows.length ? Number(rows[0].savings) : 0;
  return { windowDays: days, ips, monthlySavingsUsd: Math.round(savings * 100) / 100, more: rows.length > limit };
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
export async function costReport(
  c: Queryable,
  tenants: string[] | "*",
  months = 6,
  page: { after?: { tenant: string; month: string }; limit: number } = { limit: 1000 },
): Promise<CostRow[]> {
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
       from held h
      where $3::text is null or (h.tenant, to_char(h.m, 'YYYY-MM')) > ($3::text, $4::text)
      group by h.tenant, h.m order by h.tenant, h.m limit $5`,
    [months, tenants === "*" ? null : tenants, page.after?.tenant ?? null, page.after?.month ?? null, page.limit],
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

/** The tenant's daily usage per IP over the days kept, by IP and day. */
export async function usageByIp(c: Queryable, tenant: string): Promise<Array<{ ip: string; day: string; sent: number; bounced: number }>> {
  const { rows } = await c.query<{ ip: string; day: string; sent: number; bounced: number }>(
    `select ip, to_char(day, 'YYYY-MM-DD') as day, sent, bounced from ip_usage where tenant = $1 and day > current_date - $2::int order by ip, day`,
    [tenant, USAGE_DAYS_KEPT],
  );
  return rows;
}

/** The sending IPs of the scope with their warm-up plans (what capacity advice counts). */
export async function sendingIps(
  c: Queryable,
  tenants: string[] | "*",
): Promise<
  Array<{
    tenant: string;
    ip: string;
    server: string;
    since: Date | null;
    warmup: Array<{ day: number; maxMessages: number }> | null;
    sentDays: number;
  }>
> {
  // sentDays: the days before today it sent since its warm-up started, as store/reputation.ts `sentDays` counts them
  // (only for an IP with a warm-up plan: without one the day does not matter).
  const { rows } = await c.query(
    `select t.tenant, t.ip, t.server, t.since, t.warmup,
            case when t.warmup is null then 0 else
              (select count(*)::int from ip_usage u where u.tenant = t.tenant and u.ip = t.ip and u.sent > 0 and u.day < current_date
                  and u.day >= coalesce(t.warmup_from, (t.since at time zone 'UTC')::date, '-infinity'::date)) end as "sentDays"
       from tenant_ips t where t.status = 'assigned' and t.role = 'sending'
        and ($1::text[] is null or t.tenant = any($1::text[])) order by t.tenant, t.ip`,
    [tenants === "*" ? null : tenants],
  );
  return rows;
}

/** Each tenant's total sent a day over the last `days` days (days without a report are absent). */
export async function dailyTotals(
  c: Queryable,
  tenants: string[] | "*",
  days: number,
): Promise<Array<{ tenant: string; day: string; sent: number }>> {
  const { rows } = await c.query<{ tenant: string; day: string; sent: string }>(
    `select tenant, to_char(day, 'YYYY-MM-DD') as day, sum(sent) as sent from ip_usage
      where day > current_date - $2::int and ($1::text[] is null or tenant = any($1::text[])) group by tenant, day order by tenant, day`,
    [tenants === "*" ? null : tenants, days],
  );
  return rows.map((r) => ({ tenant: r.tenant, day: r.day, sent: Number(r.sent) }));
}
