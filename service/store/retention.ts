/**
 * What is kept how long: monitoring results and delivered webhooks `days` (default 90), usage
 * USAGE_DAYS_KEPT, reputation history REPUTATION_DAYS_KEPT, kept idempotent answers a day. Undelivered webhooks stay until delivered.
 */
import { Queryable } from "../../scripts/lib/postgres/index";
import { pruneUsage } from "./usage";
import { pruneReputation } from "./reputation";

export async function prune(c: Queryable, days: number): Promise<Record<string, number>> {
  const n = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rowCount ?? 0;
  return {
    monitorResults: await n("delete from monitor_results where at < now() - make_interval(days => $1::int)", [days]),
    webhooks: await n("delete from webhook_deliveries where delivered_at < now() - make_interval(days => $1::int)", [days]),
    usage: await pruneUsage(c),
    reputation: await pruneReputation(c),
    idempotencyKeys: await n("delete from idempotency_keys where created_at < now() - interval '1 day'"),
  };
}
