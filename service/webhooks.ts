/**
 * Webhooks to the platform: one POST per outbox row (a status change or an alert), JSON, signed
 * with HMAC-SHA256 over `<timestamp>.<body>` in `X-Penguinmails-Signature: t=<unix seconds>,v1=<hex>`
 * (the receiver recomputes it with the shared secret and rejects old timestamps). A delivery that
 * fails (no answer, or not 2xx) throws, and the queue retries it with exponential backoff.
 */
import { createHmac, timingSafeEqual } from "crypto";
import { Pool } from "pg";

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

/** Delivers one outbox row; throws when the receiver did not take it. */
export async function deliverWebhook(pool: Pool, o: WebhookOptions, id: number): Promise<void> {
  const { rows } = await pool.query<{ id: string; kind: string; body: unknown; delivered_at: Date | null; created_at: Date }>(
    "update webhook_deliveries set attempts = attempts + 1 where id = $1 returning *",
    [id],
  );
  const row = rows[0];
  if (!row || row.delivered_at) return;
  if (!o.url || !o.secret) {
    await pool.query("update webhook_deliveries set last_error = 'no webhook configured' where id = $1", [id]);
    return;
  }
  const body = JSON.stringify({ id: Number(row.id), at: new Date(row.created_at).toISOString(), ...(row.body as object) });
  let error: string | undefined;
  try {
    const res = await fetch(o.url, {
      method: "POST",
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: sign(o.secret, body), "x-penguinmails-delivery": String(row.id) },
      body,
      signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) error = `the receiver answered ${res.status}`;
  } catch (e) {
    error = `the receiver could not be reached: ${(e as Error).message}`;
  }
  if (error) {
    await pool.query("update webhook_deliveries set last_error = $2 where id = $1", [id, error]);
    throw new Error(`webhook ${id}: ${error}`);
  }
  await pool.query("update webhook_deliveries set delivered_at = now(), last_error = null where id = $1", [id]);
}
