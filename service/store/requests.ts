/**
 * SQL for requests: the service_requests rows, their events and the IPs each bought or released.
 * The lifecycle rules (which move is forward, what a move writes) are in ../lifecycle.ts.
 */
import { Queryable } from "../../scripts/lib/postgres/index";
import type { RequestKind, Status } from "../requests";

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
  pending_commit_sha: string | null;
  revert_sha: string | null;
  pending_revert_sha: string | null;
  failure_reason: string | null;
  result: Record<string, unknown> | null;
  caller: string | null;
  idempotency_key: string | null;
  body_sha256: string | null;
  requested_at: Date;
  confirmed_at: Date | null;
  purchasing_at: Date | null;
  releasing_at: Date | null;
  assigned_at: Date | null;
  released_at: Date | null;
  rejected_at: Date | null;
  failed_at: Date | null;
  cancelled_at: Date | null;
  updated_at: Date;
}

export interface NewRequest {
  tenant: string;
  requester: string;
  kind: RequestKind;
  params: unknown;
  caller?: string;
  idempotencyKey?: string;
  bodySha256?: string;
}

/** Inserts the request; with an idempotency key already used by this caller, returns that request instead (`created` false). */
export async function insertRequest(c: Queryable, r: NewRequest): Promise<{ row: RequestRow; created: boolean }> {
  const { rows } = await c.query<RequestRow>(
    `insert into service_requests (tenant, requester, kind, params, caller, idempotency_key, body_sha256)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (caller, idempotency_key) where idempotency_key is not null do nothing returning *`,
    [r.tenant, r.requester, r.kind, JSON.stringify(r.params), r.caller ?? null, r.idempotencyKey ?? null, r.bodySha256 ?? null],
  );
  if (rows[0]) return { row: rows[0], created: true };
  const { rows: same } = await c.query<RequestRow>("select * from service_requests where caller = $1 and idempotency_key = $2", [
    r.caller,
    r.idempotencyKey,
  ]);
  return { row: same[0], created: false };
}

export async function getRequest(c: Queryable, id: string): Promise<RequestRow | undefined> {
  return (await c.query<RequestRow>("select * from service_requests where id = $1", [id])).rows[0];
}

/** A page of the tenant's requests, newest first, after the cursor's (requested_at, id). */
export async function listRequests(
  c: Queryable,
  tenant: string,
  after: { at: string; id: string } | undefined,
  limit: number,
): Promise<RequestRow[]> {
  const { rows } = await c.query<RequestRow>(
    `select * from service_requests where tenant = $1 and ($2::timestamptz is null or (requested_at, id) < ($2::timestamptz, $3::uuid))
      order by requested_at desc, id desc limit $4`,
    [tenant, after?.at ?? null, after?.id ?? null, limit],
  );
  return rows;
}

export async function requestEvents(c: Queryable, id: string): Promise<Array<{ status: string; at: Date; detail: unknown }>> {
  return (await c.query("select status, at, detail from request_events where request_id = $1 order by id", [id])).rows;
}

export async function requestIps(c: Queryable, id: string): Promise<Array<{ ip: string; action: "bought" | "released"; at: Date }>> {
  return (await c.query("select ip, action, at from request_ips where request_id = $1 order by at", [id])).rows;
}

export async function recordRequestIp(
  c: Queryable,
  id: string,
  ip: string,
  action: "bought" | "released",
  resource: string,
): Promise<void> {
  await c.query("insert into request_ips (request_id, ip, action, resource) values ($1, $2, $3, $4) on conflict do nothing", [
    id,
    ip,
    action,
    resource,
  ]);
}

/**
 * Moves the request to `status` when it is in one of `from`, writing the fields given; returns
 * the row, or undefined when it did not move.
 */
export async function updateStatus(
  c: Queryable,
  id: string,
  status: Status,
  from: Status[],
  f: { failure_reason?: string; result?: unknown; commit_sha?: string; hostwinds?: unknown; domain?: string },
): Promise<RequestRow | undefined> {
  const { rows } = await c.query<RequestRow>(
    `update service_requests set status = $2, ${status}_at = now(), updated_at = now(),
       failure_reason = coalesce($4, failure_reason), result = coalesce($5::jsonb, result), commit_sha = coalesce($6, commit_sha),
       hostwinds = coalesce($7::jsonb, hostwinds), domain = coalesce($8, domain)
     where id = $1 and status = any($3::text[]) returning *`,
    [
      id,
      status,
      from,
      f.failure_reason ?? null,
      f.result ? JSON.stringify(f.result) : null,
      f.commit_sha ?? null,
      f.hostwinds ? JSON.stringify(f.hostwinds) : null,
      f.domain ?? null,
    ],
  );
  return rows[0];
}

export async function insertEvent(c: Queryable, id: string, status: Status, detail: unknown): Promise<void> {
  await c.query("insert into request_events (request_id, status, detail) values ($1, $2, $3)", [id, status, JSON.stringify(detail)]);
}

/**
 * Records the sha of the commit (or revert) about to be pushed for this request: after a crash
 * the next try asks git whether that commit reached the branch, and nothing else identifies it.
 */
export async function setPendingSha(c: Queryable, id: string, which: "commit" | "revert", sha: string | null): Promise<void> {
  await c.query(`update service_requests set pending_${which}_sha = $2, updated_at = now() where id = $1`, [id, sha]);
}

export async function setRevertSha(c: Queryable, id: string, sha: string): Promise<void> {
  await c.query("update service_requests set revert_sha = $2, updated_at = now() where id = $1", [id, sha]);
}

/** An open pause_ip request for this IP (the emergency switch asks once). */
export async function openPauseRequest(c: Queryable, tenant: string, ip: string): Promise<boolean> {
  const r = await c.query(
    "select 1 from service_requests where tenant = $1 and kind = 'pause_ip' and params->>'ip' = $2 and status not in ('assigned', 'released', 'rejected', 'failed', 'cancelled')",
    [tenant, ip],
  );
  return !!r.rowCount;
}

/** The request's row, locked for the caller's transaction. */
export async function lockRequest(c: Queryable, id: string): Promise<RequestRow | undefined> {
  return (await c.query<RequestRow>("select * from service_requests where id = $1 for update", [id])).rows[0];
}

/**
 * Holds the request's queue job for the caller's transaction (a worker's fetch skips a held job)
 * and says whether a worker is running it already. graphile-worker's table is private: this is
 * the one place that reads it, checked by the service's engine test on each upgrade.
 */
export async function holdJob(c: Queryable, id: string): Promise<boolean> {
  const { rows } = await c.query<{ locked_at: Date | null }>(
    "select locked_at from graphile_worker._private_jobs where key = $1 for update",
    [`request:${id}`],
  );
  return !!rows[0]?.locked_at;
}
