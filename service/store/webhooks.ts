/**
 * SQL for the webhook outbox: one row per event, numbered per tenant (`sequence`: the order in
 * which the tenant's changes were committed, since the number is taken under the tenant's row
 * lock inside the transaction of the change), delivered by its own queue job.
 */
import { Queryable } from "../../scripts/lib/postgres/index";

export interface DeliveryRow {
  id: string;
  kind: string;
  tenant: string;
  seq: string | null;
  body: unknown;
  created_at: Date;
  attempts: number;
  delivered_at: Date | null;
  given_up_at: Date | null;
  last_error: string | null;
}

/** Writes the event with the tenant's next sequence number; returns its id and number. */
export async function insertDelivery(c: Queryable, kind: string, tenant: string, body: unknown): Promise<{ id: number; seq: number }> {
  const { rows: s } = await c.query<{ last: string }>(
    `insert into tenant_event_seq (tenant, last) values ($1, 1)
     on conflict (tenant) do update set last = tenant_event_seq.last + 1 returning last`,
    [tenant],
  );
  const seq = Number(s[0].last);
  const { rows } = await c.query<{ id: string }>(
    "insert into webhook_deliveries (kind, tenant, seq, body) values ($1, $2, $3, $4) returning id",
    [kind, tenant, seq, JSON.stringify(body)],
  );
  return { id: Number(rows[0].id), seq };
}

/** Counts a try and returns the row. */
export async function startAttempt(c: Queryable, id: number): Promise<DeliveryRow | undefined> {
  return (await c.query<DeliveryRow>("update webhook_deliveries set attempts = attempts + 1 where id = $1 returning *", [id])).rows[0];
}

export async function markDelivered(c: Queryable, id: number): Promise<void> {
  await c.query("update webhook_deliveries set delivered_at = now(), last_error = null, given_up_at = null where id = $1", [id]);
}

export async function markFailed(c: Queryable, id: number, error: string, givenUp: boolean): Promise<void> {
  await c.query("update webhook_deliveries set last_error = $2, given_up_at = case when $3 then now() else given_up_at end where id = $1", [
    id,
    error,
    givenUp,
  ]);
}

/** Undelivered events of these tenants ('*' = all), oldest first, after the cursor's id. */
export async function listUndelivered(
  c: Queryable,
  tenants: string[] | "*",
  afterId: number | undefined,
  limit: number,
): Promise<DeliveryRow[]> {
  const { rows } = await c.query<DeliveryRow>(
    `select * from webhook_deliveries where delivered_at is null and ($1::text[] is null or tenant = any($1::text[]))
        and ($2::bigint is null or id > $2::bigint) order by id limit $3`,
    [tenants === "*" ? null : tenants, afterId ?? null, limit],
  );
  return rows;
}

export async function getDelivery(c: Queryable, id: number): Promise<DeliveryRow | undefined> {
  return (await c.query<DeliveryRow>("select * from webhook_deliveries where id = $1", [id])).rows[0];
}

export async function reopenDelivery(c: Queryable, id: number): Promise<void> {
  await c.query("update webhook_deliveries set given_up_at = null where id = $1", [id]);
}
