/** What the platform reports (daily volume per IP) and what it reads back: unused IPs, cost. */
import { inTransaction } from "../../scripts/lib/postgres/index";
import { AUTH, BODY, Route, jsonBody, may, once, paged, scope } from "../http";
import { checked, fail } from "../problems";
import { costReport, foreignRecords, recordUsage, unusedIps } from "../store/usage";
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
    summary: "IP cost by tenant and month, and the part spent on IPs that sent nothing",
    query: q.costQuery,
    ok: { status: 200, description: "a page of rows", schema: v.costView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.costQuery, c.req.query());
      const rows = await costReport(pool, scope(c, query.tenant), query.months, { after: query.cursor, limit: query.limit + 1 });
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ tenant: last.tenant, month: last.month }));
      return c.json({ rows: page, nextCursor });
    },
  },
];
