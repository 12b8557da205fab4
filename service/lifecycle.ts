/**
 * A request's lifecycle: requested → confirmed → purchasing → assigned, or releasing → released,
 * or rejected / failed / cancelled. A status moves only forward and never out of a terminal one;
 * each move stamps its own timestamp, appends to request_events and writes the webhook for it,
 * all inside the caller's transaction. The SQL is in store/requests.ts and store/webhooks.ts.
 */
import { Pool } from "pg";
import { Queryable, enqueue, inTransaction } from "../scripts/lib/postgres/index";
import { RequestKind, Status, TERMINAL } from "./requests";
import { withoutServerPaths } from "./problems";
import { NewRequest, RequestRow, insertEvent, insertRequest, updateStatus } from "./store/requests";
import { insertDelivery } from "./store/webhooks";

export type { RequestRow } from "./store/requests";
export { getRequest } from "./store/requests";

const ORDER: Record<Status, number> = {
  requested: 0,
  confirmed: 1,
  purchasing: 2,
  releasing: 3,
  assigned: 4,
  released: 4,
  rejected: 4,
  failed: 4,
  cancelled: 4,
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
 * Tries of a webhook: the queue waits exp(min(try, 10)) seconds between tries, so 25 tries span
 * about 4 days (the first 10 take ~10 h, then one every ~6 h).
 */
export const WEBHOOK_ATTEMPTS = 25;

const applyJob = (c: Queryable, row: RequestRow) =>
  enqueue(c, APPLY_TASK, { requestId: row.id }, { queue: `tenant:${row.tenant}`, key: `request:${row.id}`, maxAttempts: APPLY_ATTEMPTS });

/**
 * Records a request and its job in one transaction: the row exists exactly when its job does.
 * The job runs in the tenant's queue, so a tenant's requests are carried out one at a time, in order.
 * With an idempotency key the caller used before, nothing is written and that request is returned.
 */
export async function submitRequest(pool: Pool, r: NewRequest): Promise<RequestRow> {
  return (await submitOnce(pool, r)).row;
}

export async function submitOnce(pool: Pool, r: NewRequest): Promise<{ row: RequestRow; created: boolean }> {
  return inTransaction(pool, async (c) => {
    const { row, created } = await insertRequest(c, r);
    if (!created) return { row, created };
    await insertEvent(c, row.id, "requested", {});
    await queueWebhook(c, "request.status", row.tenant, { event: "request.status", request: publicRequest(row) });
    await applyJob(c, row);
    return { row, created };
  });
}

/** Runs the request's job again now (a cancelled request whose commit needs reverting). */
export const rerun = (c: Queryable, row: RequestRow) => applyJob(c, row);

/** Writes the outbox row (with the tenant's next sequence number) and its delivery job, inside the caller's transaction. */
export async function queueWebhook(
  c: Queryable,
  kind: "request.status" | "ip.alert" | "budget.alert" | "incident" | "domain.status",
  tenant: string,
  body: object,
): Promise<void> {
  const { id } = await insertDelivery(c, kind, tenant, body);
  await enqueue(c, WEBHOOK_TASK, { id }, { maxAttempts: WEBHOOK_ATTEMPTS, key: `webhook:${id}` });
}

/** Moves the request to `status` when that is forward; returns the updated row, or undefined when it did not move. */
export async function moveTo(c: Queryable, id: string, status: Status, fields: StatusFields = {}): Promise<RequestRow | undefined> {
  const earlier = (Object.keys(ORDER) as Status[]).filter((s) => ORDER[s] < ORDER[status] && !(TERMINAL as readonly string[]).includes(s));
  const reason = fields.failure_reason === undefined ? undefined : withoutServerPaths(fields.failure_reason).slice(0, 2000);
  const row = await updateStatus(c, id, status, earlier, { ...fields, failure_reason: reason });
  if (!row) return undefined;
  const detail = { ...(reason ? { reason } : {}), ...(fields.result ? { result: fields.result } : {}) };
  await insertEvent(c, id, status, detail);
  await queueWebhook(c, "request.status", row.tenant, { event: "request.status", request: publicRequest(row) });
  return row;
}

/** The same, in its own transaction. */
export const advance = (pool: Pool, id: string, status: Status, fields: StatusFields = {}) =>
  inTransaction(pool, (c) => moveTo(c, id, status, fields));

/** A request as the API and the webhooks show it. */
export function publicRequest(r: RequestRow) {
  const at = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    id: r.id,
    tenant: r.tenant,
    requester: r.requester,
    kind: r.kind as RequestKind,
    params: r.params,
    status: r.status,
    hostwinds: r.hostwinds,
    domain: r.domain,
    commit: r.commit_sha,
    failureReason: r.failure_reason === null ? null : withoutServerPaths(r.failure_reason),
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
      cancelled: at(r.cancelled_at),
    },
  };
}
