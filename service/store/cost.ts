/**
 * SQL for the cost report and budget alerts: what each tenant holds this month (servers, IPs,
 * backup storage), its budget and its open requests, as ../cost.ts prices them; and the record
 * of the budget alerts sent (one per tenant, month and threshold).
 */
import { Queryable } from "../../scripts/lib/postgres/index";
import { BillingCycle, PriceBook, monthlyPriceUsd } from "../../providers/model/pricing";
import { BACKUP_USD_PER_GB_MONTH, HeldItem, OpenRequest, TenantCostInput } from "../cost";

const OPEN = ["requested", "confirmed", "purchasing", "releasing"];
const MS = (col: string) => `(extract(epoch from ${col}) * 1000)::float8`;
const date = (ms: number | null) => (ms === null ? null : new Date(ms));

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
  return [...by.values()].sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0));
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
