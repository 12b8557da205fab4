/**
 * SQL for the cost report and budget alerts: what each tenant holds this month (servers, IPs,
 * backup storage), its budget and its open requests, as ../cost.ts prices them; and the record
 * of the budget alerts sent (one per tenant, month and threshold).
 */
import { Pool } from "pg";
import { Queryable, inTransaction } from "../../scripts/lib/postgres/index";
import { BILLING_CYCLES, BillingCycle, PriceBook, monthlyPriceUsd } from "../../providers/model/pricing";
import {
  BACKUP_USD_PER_GB_MONTH,
  FleetCost,
  FleetSums,
  HeldItem,
  OpenRequest,
  TenantCostInput,
  fleetCost,
  monthOf,
  tenantCost,
} from "../cost";

const OPEN = ["requested", "confirmed", "purchasing", "releasing"];
const MS = (col: string) => `(extract(epoch from ${col}) * 1000)::float8`;
const date = (ms: number | null) => (ms === null ? null : new Date(ms));
const byName = <T extends { tenant: string }>(a: T, b: T) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0);

/** Every tenant of the scope with what it holds this month, by tenant (one query per table, the whole scope). */
export async function costInputs(c: Queryable, tenants: string[] | "*", book: PriceBook): Promise<TenantCostInput[]> {
  const scope = tenants === "*" ? null : tenants;
  const [servers, ips, budgets, requests] = await Promise.all([
    // Times as epoch milliseconds and prices as float8: the driver parses those as numbers, several times faster than dates.
    c.query<{
      tenant: string;
      server: string;
      plan: number | null;
      billing_cycle: string | null;
      monthly_usd: number;
      since: number;
      backup_bytes: string | null;
    }>(
      `select tenant, server, plan, billing_cycle, monthly_usd::float8 as monthly_usd, ${MS("since")} as since, backup_bytes
         from tenant_servers where $1::text[] is null or tenant = any($1::text[])`,
      [scope],
    ),
    c.query<{ tenant: string; ip: string; monthly_usd: number; since: number | null; released_at: number | null }>(
      `select tenant, ip, monthly_usd::float8 as monthly_usd, ${MS("since")} as since, ${MS("released_at")} as released_at from tenant_ips
        where ($1::text[] is null or tenant = any($1::text[])) and (status = 'assigned' or released_at >= date_trunc('month', now()))`,
      [scope],
    ),
    c.query<{ tenant: string; budget: string | null }>(
      "select tenant, monthly_budget_usd as budget from tenant_settings where $1::text[] is null or tenant = any($1::text[])",
      [scope],
    ),
    c.query<OpenRequest & { tenant: string }>(
      "select id, tenant, kind, params from service_requests where status = any($2::text[]) and ($1::text[] is null or tenant = any($1::text[]))",
      [scope, OPEN],
    ),
  ]);
  const by = new Map<string, TenantCostInput>();
  const of = (tenant: string) => {
    let t = by.get(tenant);
    if (!t) by.set(tenant, (t = { tenant, budgetUsd: null, items: [], openRequests: [] }));
    return t;
  };
  for (const s of servers.rows) {
    const plan = book.plans.find((p) => p.rid === s.plan);
    const list = plan ? monthlyPriceUsd(plan, (s.billing_cycle ?? "monthly") as BillingCycle) : undefined;
    const item: HeldItem = { kind: "server", name: s.server, monthlyUsd: s.monthly_usd, since: date(s.since), releasedAt: null };
    of(s.tenant).items.push(list === undefined ? item : { ...item, listUsd: list });
    if (s.backup_bytes !== null)
      of(s.tenant).items.push({
        kind: "backup",
        name: `${s.server} backups`,
        monthlyUsd: (Number(s.backup_bytes) / 1e9) * BACKUP_USD_PER_GB_MONTH,
        since: date(s.since),
        releasedAt: null,
      });
  }
  for (const i of ips.rows)
    of(i.tenant).items.push({
      kind: "ip",
      name: i.ip,
      monthlyUsd: i.monthly_usd,
      listUsd: book.ipMonthlyPriceUsd,
      since: date(i.since),
      releasedAt: date(i.released_at),
    });
  for (const b of budgets.rows) of(b.tenant).budgetUsd = b.budget === null ? null : Number(b.budget);
  for (const r of requests.rows) of(r.tenant).openRequests.push({ id: r.id, kind: r.kind, params: r.params });
  return [...by.values()].sort(byName);
}

/** The catalogue's monthly price by plan rid and billing cycle, as arrays for unnest (the first plan of a rid, as costInputs finds it). */
function listPrices(book: PriceBook): [number[], string[], number[]] {
  const out: [number[], string[], number[]] = [[], [], []];
  for (const rid of new Set(book.plans.map((p) => p.rid))) {
    const plan = book.plans.find((p) => p.rid === rid)!;
    for (const cycle of BILLING_CYCLES) {
      const usd = monthlyPriceUsd(plan, cycle);
      if (usd === undefined) continue;
      out[0].push(rid);
      out[1].push(cycle);
      out[2].push(usd);
    }
  }
  return out;
}

/**
 * The scope's cost figures (../cost.ts's fleetCost over every tenant's tenantCost), summed in
 * Postgres: one scan of the servers and IPs instead of every item in JS (EXPLAIN at 10,000 tenants:
 * the items' times converted only when they fall inside this month; a parallel plan is slower, its
 * partial aggregates nearly as many as the items, so it is turned off for this one query). The
 * items, the arithmetic and the rounding are costInputs', heldSums', tenantFigures' and cents'
 * (times as whole epoch milliseconds, prices as float8, floor(x + 0.5) for Math.round); only the
 * order a tenant's items are added in differs, so a tenant's figure could differ by a cent only if
 * it lay within the last bits of a half cent (test/engine/fleet-cost.test.ts compares the two).
 * Tenants with open requests go through costInputs and tenantCost, which price the requests.
 */
export async function scopeFleetCost(pool: Pool, tenants: string[] | "*", book: PriceBook, now: Date): Promise<FleetCost> {
  const m = monthOf(now);
  const ms = (col: string) => `trunc(${MS(col)})`;
  const cents = (x: string) => `floor((${x}) * 100 + 0.5) / 100`;
  const inScope = (col = "tenant") => `($1::text[] is null or ${col} = any($1::text[]))`;
  const summed = await inTransaction(pool, async (c) => {
    await c.query("set local max_parallel_workers_per_gather = 0");
    const { rows } = await c.query<FleetSums & { asking: string[] | null }>(
      `with items as (
         select s.tenant, s.monthly_usd::float8 as usd, case when s.since <= $12 then $7::float8 else ${ms("s.since")} end as f,
                'Infinity'::float8 as r, p.usd as list, null::float8 as budget
           from tenant_servers s
           left join unnest($2::int[], $3::text[], $4::float8[]) as p(rid, cycle, usd) on p.rid = s.plan and p.cycle = coalesce(s.billing_cycle, 'monthly')
          where ${inScope("s.tenant")}
         union all
         select tenant, (backup_bytes::float8 / 1e9::float8) * $5::float8, case when since <= $12 then $7::float8 else ${ms("since")} end,
                'Infinity', null, null
           from tenant_servers where backup_bytes is not null and ${inScope()}
         union all
         select tenant, monthly_usd::float8, case when since is null or since <= $12 then $7::float8 else ${ms("since")} end,
                case when released_at is null then 'Infinity' else ${ms("released_at")} end, $6::float8, null
           from tenant_ips where ${inScope()} and (status = 'assigned' or released_at >= date_trunc('month', now()))
         union all -- a tenant's settings: its budget, and nothing held (adding 0 leaves every sum as it is)
         select tenant, 0, $7::float8, 'Infinity', null, monthly_budget_usd::float8 from tenant_settings where ${inScope()}
       ), sums as (
         select tenant, sum((usd * greatest(0, least(r, $8::float8) - greatest(f, $7::float8))) / $10::float8) as mtd,
                sum((usd * greatest(0, least(r, $9::float8) - greatest(f, $8::float8))) / $10::float8) as rest,
                sum(usd) filter (where f <= $8::float8 and r > $8::float8) as held,
                sum(list - usd) filter (where f <= $8::float8 and r > $8::float8 and list is not null) as change, max(budget) as budget
           from items group by tenant
       ), asking as (
         select distinct tenant from service_requests where status = any($11::text[]) and ${inScope()}
       ), figures as (
         select ${cents("coalesce(mtd, 0)")} as mtd, ${cents("coalesce(mtd, 0) + coalesce(rest, 0)")} as projected,
                ${cents("greatest(0, coalesce(held, 0))")} as next, ${cents("coalesce(change, 0)")} as change, budget
           from sums left join asking a using (tenant) where a.tenant is null
       )
       select count(*)::int as tenants, coalesce(sum(mtd), 0) as "monthToDateUsd", coalesce(sum(projected), 0) as "projectedUsd",
              coalesce(sum(next), 0) as "nextMonthUsd", 0 as "openRequestsUsd", coalesce(sum(change), 0) as "priceListChangeUsd",
              (count(*) filter (where budget <> 0 and floor(projected / budget * 1000 + 0.5) / 10 >= 100))::int as "overBudget",
              (select array_agg(tenant) from asking) as asking
         from figures`,
      [
        tenants === "*" ? null : tenants,
        ...listPrices(book),
        BACKUP_USD_PER_GB_MONTH,
        book.ipMonthlyPriceUsd,
        m.start,
        now.getTime(),
        m.end,
        m.ms,
        OPEN,
        new Date(m.start),
      ],
    );
    return rows[0];
  });
  const asking = summed.asking ?? [];
  const exact = asking.length ? (await costInputs(pool, asking, book)).map((i) => tenantCost(i, book, now)) : [];
  return fleetCost(exact, now, summed);
}

/** Records a budget alert for the month and threshold; false when it was already sent. */
export async function claimBudgetAlert(
  c: Queryable,
  a: { tenant: string; month: string; threshold: number; projectedUsd: number; budgetUsd: number },
): Promise<boolean> {
  const r = await c.query(
    `insert into budget_alerts (tenant, month, threshold, projected_usd, budget_usd) values ($1, $2, $3, $4, $5)
     on conflict do nothing`,
    [a.tenant, a.month, a.threshold, a.projectedUsd, a.budgetUsd],
  );
  return r.rowCount === 1;
}
