/** What the platform reports (daily volume per IP) and what it reads back: unused IPs, cost (JSON or CSV). */
import { inTransaction } from "../../scripts/lib/postgres/index";
import { AUTH, BODY, Route, jsonBody, may, once, paged, scope } from "../http";
import { checked, fail } from "../problems";
import { costReport, foreignRecords, recordUsage, unusedIps } from "../store/usage";
import { costInputs } from "../store/cost";
import { FleetCost, TenantCost, fleetCost, tenantCost, toCsv } from "../cost";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import * as q from "../schemas";
import * as v from "../views";

export const REPORT_ROUTES: Route[] = [
  {
    method: "post",
    path: "/usage",
    operationId: "reportUsage",
    summary: "report daily sent volume per IP: all or nothing, the tenant's own IPs, days from 89 days ago to today",
    body: q.usageBatch,
    ok: { status: 200, description: "recorded", schema: v.recordedView },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused"],
    handler: async (c, { pool }) => {
      const body = checked("body", q.usageBatch, await jsonBody(c));
      const denied = [...new Set(body.records.map((r) => r.tenant))].filter((t) => !may(c.get("caller"), t));
      if (denied.length) fail("forbidden", `this token may not report for tenant ${denied.join(", ")}`);
      return once(c, pool, body, async () => {
        const recorded = await inTransaction(pool, async (tx) => {
          const foreign = await foreignRecords(tx, body.records);
          if (foreign.length)
            fail(
              "invalid_body",
              `${foreign.length >= 100 ? "100 or more" : foreign.length} record(s) name an IP that is not the tenant's; nothing was recorded`,
              foreign.map((i) => ({
                field: `body.records.${i}.ip`,
                message: `${body.records[i].ip} is not an IP of tenant ${body.records[i].tenant}`,
              })),
            );
          return recordUsage(tx, body.records);
        });
        return { status: 200, body: { recorded } };
      });
    },
  },
  {
    method: "get",
    path: "/unused",
    operationId: "listUnusedIps",
    summary: "IPs held the whole window that sent less than the threshold, with their cost and a suggested release",
    query: q.unusedQuery,
    ok: { status: 200, description: "a page of unused IPs", schema: v.unusedView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.unusedQuery, c.req.query());
      const out = await unusedIps(pool, {
        tenants: scope(c, query.tenant),
        days: query.days,
        belowDailyAverage: query.belowDailyAverage,
        after: query.cursor,
        limit: query.limit,
      });
      const last = out.ips[out.ips.length - 1];
      return c.json({
        windowDays: out.windowDays,
        ips: out.ips,
        monthlySavingsUsd: out.monthlySavingsUsd,
        nextCursor: out.more ? q.encodeCursor({ tenant: last.tenant, ip: last.ip }) : null,
      });
    },
  },
  {
    method: "get",
    path: "/reports/cost",
    operationId: "costReport",
    summary:
      "cost of servers, IPs and backup storage: this month to date, projected, next month with the open requests, the price-list change, budget use (fleet and per tenant); IP cost by tenant and month; ?format=csv for one line per tenant",
    query: q.costQuery,
    ok: { status: 200, description: "a page of rows (or text/csv with ?format=csv)", schema: v.costView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.costQuery, c.req.query());
      const tenants = scope(c, query.tenant);
      const now = new Date();
      const book = defaultPriceBook();
      const costs = (await costInputs(pool, tenants, book)).map((i) => tenantCost(i, book, now));
      const fleet = fleetCost(costs, now);
      if (query.format === "csv") return c.body(costCsv(fleet, costs), 200, { "content-type": "text/csv; charset=utf-8" });
      const rows = await costReport(pool, tenants, query.months, { after: query.cursor, limit: query.limit + 1 });
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ tenant: last.tenant, month: last.month }));
      const onPage = new Set(page.map((r) => r.tenant));
      return c.json({ fleet, tenants: costs.filter((x) => onPage.has(x.tenant)), rows: page, nextCursor });
    },
  },
];

/** The CSV answer: one line per tenant, then the fleet's line (tenant `*`). */
function costCsv(fleet: FleetCost, costs: TenantCost[]): string {
  const header = ["tenant", "month", "month_to_date_usd", "projected_usd", "next_month_usd", "open_requests_usd", "price_list_change_usd"];
  const line = (t: string, x: FleetCost | TenantCost) => [
    t,
    x.month,
    x.monthToDateUsd,
    x.projectedUsd,
    x.nextMonthUsd,
    x.openRequestsUsd,
    x.priceListChangeUsd,
  ];
  return toCsv(
    [...header, "budget_usd", "budget_pct"],
    [...costs.map((x) => [...line(x.tenant, x), x.budgetUsd, x.budgetPct]), [...line("*", fleet), "", ""]],
  );
}
