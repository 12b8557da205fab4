/** Usage history and capacity: a tenant's 90 days per IP with trends and anomalies; capacity advice for the fleet. */
import { z } from "zod";
import { AUTH, Route, scope, tenantParam } from "../http";
import { checked } from "../problems";
import { fleetCapacity, tenantUsage } from "../usage-view";
import * as v from "../views";

const capacityQuery = z.object({ tenant: tenantParam.tenant.optional(), all: z.enum(["true", "false"]).optional() }).strict();

export const USAGE_ROUTES: Route[] = [
  {
    method: "get",
    path: "/tenants/{tenant}/usage",
    operationId: "tenantUsage",
    summary: "the tenant's daily volume per IP over 90 days, each IP's trend and anomalies, and its capacity advice",
    pathParams: tenantParam,
    ok: { status: 200, description: "usage and capacity", schema: v.tenantUsageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => c.json(await tenantUsage(pool, c.req.param("tenant")!)),
  },
  {
    method: "get",
    path: "/reports/capacity",
    operationId: "capacityReport",
    summary:
      "tenants whose recent volume is at 80% or more of what their IPs may send, each with N more IPs, their monthly cost and the request body to POST (?all=true: every tenant)",
    query: capacityQuery,
    ok: { status: 200, description: "capacity by tenant", schema: v.capacityView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", capacityQuery, c.req.query());
      const all = await fleetCapacity(pool, scope(c, query.tenant));
      return c.json({ tenants: query.all === "true" ? all : all.filter((t) => t.advice) });
    },
  },
];
