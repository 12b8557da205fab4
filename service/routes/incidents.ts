/** Incidents monitoring opened: list them, read one with its timeline, acknowledge one (which stops its escalation). */
import { AUTH, BODY, Route, intPath, jsonBody, numericIdParam, once, paged, scope } from "../http";
import { acknowledgeFor, incidentFor, publicIncident } from "../incident-view";
import { checked, fail } from "../problems";
import { listIncidents } from "../store/incidents";
import * as q from "../schemas";
import * as v from "../views";

export const INCIDENT_ROUTES: Route[] = [
  {
    method: "get",
    path: "/incidents",
    operationId: "listIncidents",
    summary: "incidents of the token's tenants (or ?tenant=), newest first; ?status=open|resolved",
    query: q.incidentQuery,
    ok: { status: 200, description: "a page of incidents", schema: v.incidentPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.incidentQuery, c.req.query());
      const rows = await listIncidents(pool, scope(c, query.tenant), {
        status: query.status,
        beforeId: query.cursor?.id,
        limit: query.limit + 1,
      });
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ id: Number(last.id) }));
      return c.json({ incidents: page.map(publicIncident), nextCursor });
    },
  },
  {
    method: "get",
    path: "/incidents/{id}",
    operationId: "getIncident",
    summary: "an incident with its timeline (each check result, automatic action, notification and acknowledgement)",
    pathParams: numericIdParam,
    ok: { status: 200, description: "the incident", schema: v.incidentDetailView },
    errors: [...AUTH, "not_found", "invalid_query"],
    handler: async (c, { pool }) => {
      const id = intPath(c, "id");
      const out = await incidentFor(pool, c.get("caller"), id);
      if (!out) fail("not_found", `no incident ${id}`);
      return c.json(out);
    },
  },
  {
    method: "post",
    path: "/incidents/{id}/ack",
    operationId: "acknowledgeIncident",
    summary: "acknowledge an incident: its escalation to further channels stops; the acknowledgement is on its timeline",
    pathParams: numericIdParam,
    body: q.acknowledgement,
    ok: { status: 200, description: "the incident, acknowledged", schema: v.incidentDetailView },
    errors: [...AUTH, ...BODY, "not_found", "idempotency_key_reused"],
    handler: async (c, { pool }) => {
      const id = intPath(c, "id");
      const body = checked("body", q.acknowledgement, await jsonBody(c));
      return once(c, pool, body, async () => {
        const caller = c.get("caller");
        const out = await acknowledgeFor(pool, caller, id, body.by ?? caller.caller);
        if (!out) fail("not_found", `no incident ${id}`);
        return { status: 200, body: out };
      });
    },
  },
];
