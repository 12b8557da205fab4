/**
 * A request's lifecycle in Postgres: requested → confirmed → purchasing → assigned, or
 * releasing → released, or rejected / failed. A status moves only forward and never out of a
 * terminal one; each move stamps its own timestamp, appends to request_events and writes the
 * webhook for it, all in one statement batch inside the caller's transaction.
 */
import { Pool } from "pg";
import { Queryable, enqueue, inTransaction } from "../scripts/lib/postgres/index";
import { RequestKind, Status, TERMINAL } from "./requests";

export interface RequestRow {
  id: string;
  tenant: string;
  requester: string;
  kind: RequestKind;
  params: Record<string, unknown>;
  status: Status;
  hostwinds: Record<string, unknown> | null;
  domain: string | null;
  commit_sha: string | null;
  failure_reason: string | null;
  result: Record<string, unknown> | null;
  requested_at: Date;
  confirmed_at: Date | null;
  purchasing_at: Date | null;
  releasing_at: Date | null;
  assigned_at: Date | null;
  released_at: Date | null;
  rejected_at: Date | null;
  failed_at: Date | null;
  updated_at: Date;
}

const ORDER: Record<Status, number> = {
  requested: 0,
  confirmed: 1,
  purchasing: 2,
  releasing: 3,
  assigned: 4,
  released: 4,
  rejected: 4,
  failed: 4,
};

export interface StatusFields {
  failure_reason?: string;
  result?: Record<string, unknown>;
  commit_sha?: string;
  hostwinds?: Record<string, unknown>;
  domain?: string;
}

export const WEBHOOK_TASK = "deliver-webhook";
export const APPLY_TASK = "apply-request";
/** How often a request's job is tried before it ends failed (the queue backs off between tries). */
export const APPLY_ATTEMPTS = 5;

/**
 * Records a request and its job in one transaction: the row exists exactly when its job does.
 * The job runs in the tenant's queue, so a tenant's requests are carried out one at a time, in order.
 */
export async function submitRequest(
  pool: Pool,
  r: { tenant: string; requester: string; kind: RequestKind; params: unknown },
): Promise<RequestRow> {
  return inTransaction(pool, async (c) => {
    const { rows } = await c.query<RequestRow>(
      "insert into service_requests (tenant, requester, kind, params) values ($1, $2, $3, $4) returning *",
      [r.tenant, r.requester, r.kind, JSON.stringify(r.params)],
    );
    const row = rows[0];
    await c.query("insert into request_events (request_id, status, detail) values ($1, 'requested', '{}')", [row.id]);
    await queueWebhook(c, "request.status", row.tenant, { event: "request.status", request: publicRequest(row) });
    await enqueue(
      c,
      APPLY_TASK,
      { requestId: row.id },
      { queue: `tenant:${r.tenant}`, key: `request:${row.id}`, maxAttempts: APPLY_ATTEMPTS },
    );
    return row;
  });
}

/** Writes the outbox row and its delivery job (inside the caller's transaction). */
export async function queueWebhook(c: Queryable, kind: "request.status" | "ip.alert", tenant: string, body: unknown): Promise<void> {
  const { rows } = await c.query<{ id: string }>("insert into webhook_deliveries (kind, tenant, body) values ($1, $2, $3) returning id", [
    kind,
    tenant,
    JSON.stringify(body),
  ]);
  await enqueue(c, WEBHOOK_TASK, { id: Number(rows[0].id) }, { maxAttempts: 12 });
}

/** Moves the request to `status` when that is forward; returns the updated row, or undefined when it did not move. */
export async function moveTo(c: Queryable, id: string, status: Status, fields: StatusFields = {}): Promise<RequestRow | undefined> {
  const earlier = (Object.keys(ORDER) as Status[]).filter((s) => ORDER[s] < ORDER[status] && !(TERMINAL as readonly string[]).includes(s));
  const { rows } = await c.query<RequestRow>(
    `update service_requests set status = $2, ${status}_at = now(), updated_at = now(),
       failure_reason = coalesce($4, failure_reason), result = coalesce($5::jsonb, result), commit_sha = coalesce($6, commit_sha),
       hostwinds = coalesce($7::jsonb, hostwinds), domain = coalesce($8, domain)
     where id = $1 and status = any($3::text[]) returning *`,
    [
      id,
      status,
      earlier,
      fields.failure_reason ?? null,
      fields.result ? JSON.stringify(fields.result) : null,
      fields.commit_sha ?? null,
      fields.hostwinds ? JSON.stringify(fields.hostwinds) : null,
      fields.domain ?? null,
    ],
  );
  const row = rows[0];
  if (!row) return undefined;
  const detail = {
    ...(fields.failure_reason ? { reason: fields.failure_reason } : {}),
    ...(fields.result ? { result: fields.result } : {}),
  };
  await c.query("insert into request_events (request_id, status, detail) values ($1, $2, $3)", [id, status, JSON.stringify(detail)]);
  await queueWebhook(c, "request.status", row.tenant, { event: "request.status", request: publicRequest(row) });
  return row;
}

/** The same, in its own transaction. */
export const advance = (pool: Pool, id: string, status: Status, fields: StatusFields = {}) =>
  inTransaction(pool, (c) => moveTo(c, id, status, fields));

export async function getRequest(c: Queryable, id: string): Promise<RequestRow | undefined> {
  return (await c.query<RequestRow>("select * from service_requests where id = $1", [id])).rows[0];
}

/** A request as the API and the webhooks show it. */
export function publicRequest(r: RequestRow) {
  const at = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: r.id,
    tenant: r.tenant,
    requester: r.requester,
    kind: r.kind,
    params: r.params,
    status: r.status,
    hostwinds: r.hostwinds,
    domain: r.domain,
    commit: r.commit_sha,
    failureReason: r.failure_reason,
    result: r.result,
    timestamps: {
      requested: at(r.requested_at),
      confirmed: at(r.confirmed_at),
      purchasing: at(r.purchasing_at),
      releasing: at(r.releasing_at),
      assigned: at(r.assigned_at),
      released: at(r.released_at),
      rejected: at(r.rejected_at),
      failed: at(r.failed_at),
    },
  };
}
