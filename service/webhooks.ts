/**
 * Webhooks to the platform: one POST per outbox row (a status change or an alert), JSON, signed
 * with HMAC-SHA256 over `<timestamp>.<body>` in `X-Penguinmails-Signature: t=<unix seconds>,v1=<hex>`
 * (the receiver recomputes it with the shared secret and rejects old timestamps). Deliveries run on workers of
 * their own (never the ones that apply requests), each try waits at most `timeoutMs` (5 s), and a
 * failed one is tried again with exponential backoff for about 4 days; one still undelivered is
 * listed by GET /webhooks/undelivered and sent again by POST /webhooks/{id}/redeliver.
 */
import { createHmac, timingSafeEqual } from "crypto";
import { Pool } from "pg";
import { enqueue, inTransaction } from "../scripts/lib/postgres/index";
import { WEBHOOK_ATTEMPTS, WEBHOOK_TASK } from "./lifecycle";
import { getDelivery, markDelivered, markFailed, reopenDelivery, startAttempt } from "./store/webhooks";

export interface WebhookOptions {
  url?: string;
  secret?: string;
  timeoutMs?: number;
}

export const SIGNATURE_HEADER = "x-penguinmails-signature";

export function sign(secret: string, body: string, at = Math.floor(Date.now() / 1000)): string {
  return `t=${at},v1=${createHmac("sha256", secret).update(`${at}.${body}`).digest("hex")}`;
}

/** For receivers (and tests): whether a signature header is valid for this body, within `toleranceS`. */
export function verifySignature(secret: string, body: string, header: string | undefined, toleranceS = 300, now = Date.now()): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m || Math.abs(now / 1000 - Number(m[1])) > toleranceS) return false;
  const expected = Buffer.from(sign(secret, body, Number(m[1])).split("v1=")[1], "hex");
  return timingSafeEqual(expected, Buffer.from(m[2], "hex"));
}

/**
 * Delivers one outbox row; throws when the receiver did not take it (the queue tries again).
 * Each event carries `sequence`, the tenant's event number: a receiver orders a tenant's events
 * by it (deliveries are retried independently, so they can arrive out of order) and ignores a
 * `sequence` it has seen (a retry after a lost answer delivers twice).
 */
export async function deliverWebhook(
  pool: Pool,
  o: WebhookOptions,
  id: number,
  attempt?: { attempts: number; maxAttempts: number },
): Promise<void> {
  const row = await startAttempt(pool, id);
  if (!row || row.delivered_at) return;
  const lastTry = !!attempt && attempt.attempts >= attempt.maxAttempts;
  if (!o.url || !o.secret) {
    await markFailed(pool, id, "no webhook configured", true);
    return;
  }
  const body = JSON.stringify({
    id: Number(row.id),
    sequence: row.seq === null ? null : Number(row.seq),
    at: new Date(row.created_at).toISOString(),
    ...(row.body as object),
  });
  let error: string | undefined;
  try {
    const res = await fetch(o.url, {
      method: "POST",
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: sign(o.secret, body), "x-penguinmails-delivery": String(row.id) },
      body,
      signal: AbortSignal.timeout(o.timeoutMs ?? 5_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) error = `the receiver answered ${res.status}`;
  } catch (e) {
    error = `the receiver could not be reached: ${(e as Error).message}`;
  }
  if (error) {
    await markFailed(pool, id, error, lastTry);
    throw new Error(`webhook ${id}: ${error}`);
  }
  await markDelivered(pool, id);
}

/** Sends an undelivered event again now (its tries start over); a delivered one is left alone. */
export async function redeliver(pool: Pool, id: number): Promise<"queued" | "delivered" | "unknown"> {
  return inTransaction(pool, async (tx) => {
    const row = await getDelivery(tx, id);
    if (!row) return "unknown";
    if (row.delivered_at) return "delivered";
    await reopenDelivery(tx, id);
    await enqueue(tx, WEBHOOK_TASK, { id }, { maxAttempts: WEBHOOK_ATTEMPTS, key: `webhook:${id}` });
    return "queued";
  });
}
