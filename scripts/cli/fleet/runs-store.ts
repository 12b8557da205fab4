/**
 * SQL for fleet runs on the queue: each tenant's result (fleet_results), a halted rollout
 * (fleet_halts), and the run's jobs in graphile-worker's queue. The tables are migrations in
 * scripts/lib/postgres/migrations.ts.
 */
import { Queryable } from "../../lib/postgres/index";

export const jobKey = (run: string, tenant: string) => `fleet:${run}:${tenant}`;

/** Marks the run halted and removes its jobs no worker has taken yet; returns the tenants removed. */
export async function haltRun(c: Queryable, run: string, tenant: string, tenants?: string[]): Promise<string[]> {
  await c.query("insert into fleet_halts (run, tenant) values ($1, $2) on conflict (run) do nothing", [run, tenant]);
  const { rows } = await c.query<{ key: string }>(
    tenants
      ? "select key from graphile_worker.jobs where key = any($1::text[]) and locked_at is null"
      : "select key from graphile_worker.jobs where key like $1 and locked_at is null",
    [tenants ? tenants.map((t) => jobKey(run, t)) : `${jobKey(run, "")}%`],
  );
  const removed: string[] = [];
  for (const { key } of rows) {
    const r = await c.query<{ locked_at: Date | null; key: string | null }>("select locked_at, key from graphile_worker.remove_job($1)", [
      key,
    ]);
    if (r.rows[0] && r.rows[0].locked_at === null) removed.push(key.slice(jobKey(run, "").length));
  }
  return removed;
}

/** The run's jobs by id (a job removed while a worker had just taken it loses its key but still runs). */
export async function runJobIds(c: Queryable, run: string, tenants: string[]): Promise<string[]> {
  const { rows } = await c.query<{ id: string }>("select id from graphile_worker.jobs where key = any($1::text[])", [
    tenants.map((t) => jobKey(run, t)),
  ]);
  return rows.map((r) => r.id);
}

export async function resultCount(c: Queryable, run: string): Promise<number> {
  return Number((await c.query<{ n: string }>("select count(*) as n from fleet_results where run = $1", [run])).rows[0].n);
}

/** The tenant that halted the run, if it was halted. */
export async function haltedBy(c: Queryable, run: string): Promise<string | undefined> {
  return (await c.query<{ tenant: string }>("select tenant from fleet_halts where run = $1", [run])).rows[0]?.tenant;
}

/** Jobs of these ids still running or waiting. */
export async function jobsLeft(c: Queryable, ids: string[]): Promise<number> {
  const { rows } = await c.query<{ n: string }>(
    "select count(*) as n from graphile_worker.jobs where id = any($1::bigint[]) and (locked_at is not null or attempts < max_attempts)",
    [ids],
  );
  return Number(rows[0].n);
}

export async function runResults<R>(c: Queryable, run: string): Promise<Array<{ tenant: string; result: R }>> {
  return (await c.query<{ tenant: string; result: R }>("select tenant, result from fleet_results where run = $1", [run])).rows;
}

export async function saveResult(c: Queryable, run: string, tenant: string, result: unknown, worker: string): Promise<void> {
  await c.query(
    "insert into fleet_results (run, tenant, result, worker) values ($1, $2, $3, $4) on conflict (run, tenant) do update set result = excluded.result",
    [run, tenant, JSON.stringify(result), worker],
  );
}
