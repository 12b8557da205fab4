/**
 * SQL for reputation (../reputation.ts): what the score is computed from (usage over a window, the days
 * an IP sent), each IP's latest score on tenant_ips and one row per IP and day in ip_reputation (the
 * day's latest score, its inputs and penalties, and its lowest), kept REPUTATION_DAYS_KEPT days.
 */
import { Queryable } from "../../scripts/lib/postgres/index";
import type { Reputation } from "../reputation";

export const REPUTATION_DAYS_KEPT = 90;

/** Sent, bounced and complained per IP of the tenant over the last `days` days (today included). */
export async function usageWindow(
  c: Queryable,
  tenant: string,
  days: number,
): Promise<Map<string, { sent: number; bounced: number; complained: number }>> {
  const { rows } = await c.query<{ ip: string; sent: string; bounced: string; complained: string }>(
    `select ip, sum(sent) as sent, sum(bounced) as bounced, sum(complained) as complained from ip_usage
      where tenant = $1 and day > current_date - $2::int group by ip`,
    [tenant, days],
  );
  return new Map(rows.map((r) => [r.ip, { sent: Number(r.sent), bounced: Number(r.bounced), complained: Number(r.complained) }]));
}

/**
 * Per IP of the tenant: the days before today it sent something by the usage reports since its
 * warm-up started (`warmup_from`, else the day it was got), and what it sent today.
 */
export async function sentDays(c: Queryable, tenant: string): Promise<Map<string, { days: number; today: number }>> {
  const { rows } = await c.query<{ ip: string; days: number; today: string }>(
    `select t.ip,
            (select count(*)::int from ip_usage u where u.tenant = t.tenant and u.ip = t.ip and u.sent > 0 and u.day < current_date
                and u.day >= coalesce(t.warmup_from, (t.since at time zone 'UTC')::date, '-infinity'::date)) as days,
            coalesce((select u.sent from ip_usage u where u.tenant = t.tenant and u.ip = t.ip and u.day = current_date), 0) as today
       from tenant_ips t where t.tenant = $1`,
    [tenant],
  );
  return new Map(rows.map((r) => [r.ip, { days: r.days, today: Number(r.today) }]));
}

/** Keeps the IP's latest score (shown by GET …/ips) and today's row of its history. */
export async function saveReputation(c: Queryable, tenant: string, ip: string, r: Reputation): Promise<void> {
  await c.query("update tenant_ips set reputation = $3, reputation_at = now() where tenant = $1 and ip = $2", [
    tenant,
    ip,
    JSON.stringify(r),
  ]);
  const body = JSON.stringify({ inputs: r.inputs, penalties: r.penalties });
  await c.query(
    `insert into ip_reputation (tenant, ip, day, score, lowest, inputs) values ($1, $2, current_date, $3, $3, $4)
     on conflict (tenant, ip, day) do update set score = excluded.score, lowest = least(ip_reputation.lowest, excluded.score),
       inputs = excluded.inputs, at = now()`,
    [tenant, ip, r.score, body],
  );
}

export interface ReputationDay {
  day: string;
  score: number;
  lowest: number;
  at: string;
  inputs: unknown;
  penalties: unknown;
}

/** The IP's daily scores, newest first, over the days kept. */
export async function reputationHistory(c: Queryable, tenant: string, ip: string): Promise<ReputationDay[]> {
  const { rows } = await c.query<{ day: string; score: number; lowest: number; at: Date; inputs: { inputs: unknown; penalties: unknown } }>(
    `select to_char(day, 'YYYY-MM-DD') as day, score, lowest, at, inputs from ip_reputation
      where tenant = $1 and ip = $2 and day > current_date - $3::int order by day desc`,
    [tenant, ip, REPUTATION_DAYS_KEPT],
  );
  return rows.map((r) => ({
    day: r.day,
    score: r.score,
    lowest: r.lowest,
    at: new Date(r.at).toISOString(),
    inputs: r.inputs.inputs,
    penalties: r.inputs.penalties,
  }));
}

export async function pruneReputation(c: Queryable): Promise<number> {
  return (await c.query("delete from ip_reputation where day <= current_date - $1::int", [REPUTATION_DAYS_KEPT])).rowCount ?? 0;
}

/** The tenant's switch settings: opted in, and the score below which a sending IP is switched (null: on a listing only). */
export async function switchSettings(c: Queryable, tenant: string): Promise<{ optedIn: boolean; switchBelowScore: number | null }> {
  const { rows } = await c.query<{ on: boolean; below: number | null }>(
    "select auto_emergency_switch as on, switch_below_score as below from tenant_settings where tenant = $1",
    [tenant],
  );
  return { optedIn: rows[0]?.on ?? false, switchBelowScore: rows[0]?.below ?? null };
}
