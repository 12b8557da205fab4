/** Webhook events the platform has not received yet: list them, send one again. */
import { z } from "zod";
import { AUTH, BODY, Route, intPath, jsonBody, may, numericIdParam, once, paged, scope } from "../http";
import { checked, fail } from "../problems";
import { getDelivery, listUndelivered } from "../store/webhooks";
import { redeliver } from "../webhooks";
import * as q from "../schemas";
import * as v from "../views";

const emptyBody = z.object({}).strict();

export const WEBHOOK_ROUTES: Route[] = [
  {
    method: "get",
    path: "/webhooks/undelivered",
    operationId: "listUndeliveredWebhooks",
    summary: "webhook events not delivered yet (still retrying, or given up after ~4 days)",
    query: q.undeliveredQuery,
    ok: { status: 200, description: "a page of events", schema: v.undeliveredView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.undeliveredQuery, c.req.query());
      const rows = await listUndelivered(pool, scope(c, query.tenant), query.cursor?.id, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ id: Number(last.id) }));
      return c.json({
        events: page.map((r) => ({
          id: Number(r.id),
          tenant: r.tenant,
          sequence: r.seq === null ? null : Number(r.seq),
          kind: r.kind,
          createdAt: new Date(r.created_at).toISOString(),
          attempts: r.attempts,
          givenUp: !!r.given_up_at,
          lastError: r.last_error,
          body: r.body,
        })),
        nextCursor,
      });
    },
  },
  {
    method: "post",
    path: "/webhooks/{id}/redeliver",
    operationId: "redeliverWebhook",
    summary: "send an undelivered event again now",
    pathParams: numericIdParam,
    body: emptyBody,
    ok: { status: 202, description: "queued (200 when it was delivered already)", schema: v.redeliverView },
    errors: [...AUTH, ...BODY, "not_found", "idempotency_key_reused"],
    handler: async (c, { pool }) => {
      const id = intPath(c, "id");
      const body = checked("body", emptyBody, await jsonBody(c).catch(() => ({})));
      const row = await getDelivery(pool, id);
      if (!row || !may(c.get("caller"), row.tenant)) fail("not_found", `no webhook event ${id}`);
      return once(c, pool, body, async () => {
        const out = await redeliver(pool, id);
        return out === "delivered"
          ? { status: 200, body: { id, delivered: true } }
          : { status: 202, body: { id, delivered: false, queued: true } };
      });
    },
  },
];
