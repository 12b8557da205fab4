/** A tenant's requests: submit, list, follow one, cancel one (./lifecycle.ts carries them out). */
import { PoolClient } from "pg";
import { inTransaction } from "../../scripts/lib/postgres/index";
import { Pool } from "pg";
import { AUTH, BODY, Caller, Route, jsonBody, may, paged, requestIdParam, tenantParam, uuidParam } from "../http";
import { RequestRow, moveTo, publicRequest, rerun } from "../lifecycle";
import { CREDENTIAL_KINDS, RequestKind } from "../requests";
import { unseal } from "../credentials";
import { takeCredential } from "../store/mailboxes";
import { submitRequest } from "./submit";
import { checked, fail } from "../problems";
import { getRequest, holdJob, listRequests, lockRequest, requestEvents, requestIps } from "../store/requests";
import * as q from "../schemas";
import * as v from "../views";

export const REQUEST_ROUTES: Route[] = [
  {
    method: "post",
    path: "/tenants/{tenant}/requests",
    operationId: "submitRequest",
    summary: "submit a request (carried out asynchronously; follow it with GET /requests/{id} or the webhook)",
    pathParams: tenantParam,
    body: q.submission,
    ok: {
      status: 202,
      description: "recorded and queued (200 with the same request for a repeated Idempotency-Key)",
      schema: v.requestView,
    },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused"],
    handler: async (c, deps) => {
      const body = checked("body", q.submission, await jsonBody(c));
      return submitRequest(c, deps, body.kind, body.params, body.requester);
    },
  },
  {
    method: "get",
    path: "/tenants/{tenant}/requests",
    operationId: "listRequests",
    summary: "the tenant's requests, newest first",
    pathParams: tenantParam,
    query: q.page(q.requestCursor),
    ok: { status: 200, description: "a page of requests", schema: v.requestPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.page(q.requestCursor), c.req.query());
      const rows = await listRequests(pool, c.req.param("tenant")!, query.cursor, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ at: new Date(last.requested_at).toISOString(), id: last.id }));
      return c.json({ requests: page.map(publicRequest), nextCursor });
    },
  },
  {
    method: "get",
    path: "/requests/{id}",
    operationId: "getRequest",
    summary:
      "one request, its status history and the IPs it bought or released; a mailbox request's new password once (result.mailbox.password, then gone)",
    pathParams: requestIdParam,
    ok: { status: 200, description: "the request", schema: v.requestDetailView },
    errors: [...AUTH, "not_found", "invalid_body"],
    handler: async (c, { pool, options }) => {
      const id = uuidParam(c, "id");
      const row = await getRequest(pool, id);
      if (!row || !may(c.get("caller"), row.tenant)) fail("not_found", `no request ${id}`);
      const events = await requestEvents(pool, id);
      const ips = await requestIps(pool, id);
      const shown = publicRequest(row!);
      const password = await passwordOnce(pool, options.credentialKey, row!);
      if (password) shown.result = { ...shown.result, mailbox: { ...(shown.result?.mailbox as object), password } };
      return c.json({ ...shown, events: events.map((e) => ({ status: e.status, at: new Date(e.at).toISOString() })), ips });
    },
  },
  {
    method: "delete",
    path: "/requests/{id}",
    operationId: "cancelRequest",
    summary: "cancel a request not yet purchasing (a pushed commit is reverted)",
    pathParams: requestIdParam,
    ok: { status: 200, description: "cancelled", schema: v.requestView },
    errors: [...AUTH, "not_found", "not_cancellable"],
    handler: async (c, { pool }) => {
      const id = uuidParam(c, "id");
      const row = await inTransaction(pool, async (tx) => cancelIn(tx, c.get("caller"), id, await lockRequest(tx, id)));
      return c.json(publicRequest(row), 200);
    },
  },
];

/**
 * The password a mailbox request made, the first time its result is read (the sealed row is deleted
 * as it is read, so a second GET, or another reader, finds none); a key that cannot open it (the
 * service restarted without PENGUINMAILS_CREDENTIAL_KEY) says so instead.
 */
async function passwordOnce(pool: Pool, key: Buffer | undefined, row: RequestRow): Promise<string | undefined> {
  if (!CREDENTIAL_KINDS.includes(row.kind as RequestKind) || row.status !== "assigned") return undefined;
  const taken = await takeCredential(pool, row.id);
  if (!taken) return undefined;
  try {
    return key ? unseal(key, row.id, taken.sealed) : undefined;
  } catch {
    return undefined;
  }
}

/** Cancels a request not yet purchasing and not being carried out right now (its job row is held meanwhile, so no worker takes it). */
async function cancelIn(
  tx: PoolClient,
  caller: Caller,
  id: string,
  row: { status: string; tenant: string; commit_sha: string | null } | undefined,
) {
  if (!row || !may(caller, row.tenant)) return fail("not_found", `no request ${id}`);
  if (!["requested", "confirmed"].includes(row.status))
    return fail("not_cancellable", `request ${id} is ${row.status}; only a request not yet purchasing can be cancelled`);
  if (await holdJob(tx, id))
    return fail("not_cancellable", `request ${id} is being carried out right now; try again in a moment or release what it got`);
  const moved = await moveTo(tx, id, "cancelled", { failure_reason: `cancelled by ${caller.caller}` });
  if (!moved) return fail("not_cancellable", `request ${id} moved on meanwhile`);
  // Its commit is on the branch already: the request's job reverts it.
  if (row.commit_sha) await rerun(tx, moved);
  return moved;
}
