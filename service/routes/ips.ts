/** A tenant's IPs as the platform shows them, and the tenant's choice of the automatic emergency switch. */
import { AUTH, BODY, Route, jsonBody, paged, tenantParam } from "../http";
import { checked } from "../problems";
import { listIps, saveSettings } from "../store/ips";
import { warmupToday } from "../tenant-ips";
import * as q from "../schemas";
import * as v from "../views";

export const IP_ROUTES: Route[] = [
  {
    method: "get",
    path: "/tenants/{tenant}/ips",
    operationId: "listIps",
    summary: "the tenant's IPs: role, status, PTR, warm-up day, last monitoring result",
    pathParams: tenantParam,
    query: q.page(q.ipCursor),
    ok: { status: 200, description: "a page of IPs", schema: v.ipPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.page(q.ipCursor), c.req.query());
      const rows = await listIps(pool, c.req.param("tenant")!, query.cursor, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({
        server: last.server,
        role: last.role,
        slot: last.slot,
        ip: last.ip,
      }));
      return c.json({
        ips: page.map((r) => ({
          ip: r.ip,
          server: r.server,
          role: r.role,
          status: r.status,
          ptr: r.ptr,
          since: r.since ? new Date(r.since).toISOString() : null,
          releasedAt: r.released_at ? new Date(r.released_at).toISOString() : null,
          monthlyUsd: Number(r.monthly_usd),
          warmup: warmupToday(r.since, r.warmup),
          lastCheck: r.last_check
            ? { at: r.last_check_at ? new Date(r.last_check_at).toISOString() : null, ...(r.last_check as object) }
            : null,
        })),
        nextCursor,
      });
    },
  },
  {
    method: "put",
    path: "/tenants/{tenant}/settings",
    operationId: "saveSettings",
    summary: "opt in or out of the automatic emergency switch (a listed sending IP is paused, its standby takes over)",
    pathParams: tenantParam,
    body: q.settings,
    ok: { status: 200, description: "saved", schema: v.settingsView },
    errors: [...AUTH, ...BODY, "forbidden"],
    handler: async (c, { pool }) => {
      const body = checked("body", q.settings, await jsonBody(c));
      await saveSettings(pool, c.req.param("tenant")!, body.autoEmergencySwitch);
      return c.json({ tenant: c.req.param("tenant")!, ...body });
    },
  },
];
