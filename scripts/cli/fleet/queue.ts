/**
 * Fleet jobs on the service's Postgres queue (scripts/cli/service/postgres.ts, graphile-worker):
 * one job per tenant (preview, up, or the engine's drift check), in a queue named after the
 * tenant so one tenant's work runs one at a time. `fleet worker` runs them, on any number of
 * machines against the same Postgres and the same Pulumi backend; the command that submitted
 * them waits for every result and reports as if it had run them itself. Results are rows in
 * `fleet_results` (run, tenant, result).
 */
import { randomBytes } from "crypto";
import * as os from "os";
import { Pool } from "pg";
import { TaskList } from "graphile-worker";
import { enqueue, inTransaction, migrate, openPool, startQueue } from "../service/postgres";
import { DriftResult, FleetOptions, fleetPreview, fleetUp, refreshDrift } from "./commands";
import { TenantChange } from "./changes";
import { fleetProject } from "./tenants";

export const FLEET_TASK = "fleet-tenant";
export type FleetOp = "preview" | "up" | "drift";

interface JobPayload {
  run: string;
  op: FleetOp;
  tenant: string;
  root: string;
  policyPacks?: string[];
  localBackend?: string;
}

async function ensureTables(pool: Pool): Promise<void> {
  await migrate(pool);
  await pool.query(
    `create table if not exists fleet_results (run text not null, tenant text not null, result jsonb not null,
       worker text not null, finished_at timestamptz not null default now(), primary key (run, tenant))`,
  );
}

/** Submits one job per tenant and waits for all their results (progress through `o.onProgress`). */
export async function runOnQueue(url: string, o: FleetOptions, op: FleetOp, tenants: string[]): Promise<Array<TenantChange | DriftResult>> {
  const pool = openPool(url, 2);
  try {
    await ensureTables(pool);
    const run = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    await inTransaction(pool, async (c) => {
      for (const tenant of tenants)
        await enqueue(
          c,
          FLEET_TASK,
          { run, op, tenant, root: o.project.root, policyPacks: o.policyPacks, localBackend: o.localBackend } satisfies JobPayload,
          { queue: `fleet:${tenant}`, maxAttempts: 1 },
        );
    });
    o.log?.(`fleet ${op}: ${tenants.length} jobs on the queue (run ${run}); waiting for workers`);
    const started = Date.now();
    let done = 0;
    for (;;) {
      const { rows } = await pool.query<{ n: string }>("select count(*) as n from fleet_results where run = $1", [run]);
      const n = Number(rows[0].n);
      if (n !== done) {
        done = n;
        o.onProgress?.({ done, total: tenants.length, running: [], elapsedMs: Date.now() - started });
      }
      if (n >= tenants.length) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const { rows } = await pool.query<{ tenant: string; result: TenantChange | DriftResult }>(
      "select tenant, result from fleet_results where run = $1",
      [run],
    );
    const by = new Map(rows.map((r) => [r.tenant, r.result]));
    return tenants.map((t) => by.get(t)!);
  } finally {
    await pool.end();
  }
}

export interface WorkerOptions {
  url: string;
  /** Jobs at once in this process (each in its own Pulumi home). */
  concurrency: number;
  log: (line: string) => void;
  /** Stop after this many jobs (benchmarks); default never. */
  stopAfter?: number;
}

/** `fleet worker`: runs fleet jobs until stopped (SIGINT/SIGTERM) or `stopAfter` jobs. */
export async function fleetWorker(w: WorkerOptions): Promise<void> {
  const pool = openPool(w.url, w.concurrency + 4);
  await ensureTables(pool);
  const me = `${os.hostname()}:${process.pid}`;
  const free = Array.from({ length: w.concurrency }, (_, i) => i);
  let jobs = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (finished = r));
  const tasks: TaskList = {
    [FLEET_TASK]: async (raw) => {
      const p = raw as JobPayload;
      const slot = free.shift() ?? 0;
      const t0 = Date.now();
      try {
        const o: FleetOptions = {
          project: fleetProject(p.root),
          concurrency: 1,
          policyPacks: p.policyPacks,
          localBackend: p.localBackend,
          // Its own Pulumi home per process and slot: workers on one machine never share one.
          homeTag: `worker-${process.pid}-${slot}`,
        };
        const result =
          p.op === "drift" ? (await refreshDrift(o, [p.tenant]))[0] : (await (p.op === "up" ? fleetUp : fleetPreview)(o, [p.tenant]))[0];
        await pool.query(
          "insert into fleet_results (run, tenant, result, worker) values ($1, $2, $3, $4) on conflict (run, tenant) do update set result = excluded.result",
          [p.run, p.tenant, JSON.stringify(result), me],
        );
        w.log(`fleet worker ${me}: ${p.op} ${p.tenant} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        free.push(slot);
        if (w.stopAfter && ++jobs >= w.stopAfter) finished();
      }
    },
  };
  const queue = await startQueue(pool, tasks, { concurrency: w.concurrency, log: w.log });
  w.log(`fleet worker ${me}: waiting for jobs (${w.concurrency} at once)`);
  const stop = () => finished();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await allDone;
  await queue.stop();
  await pool.end();
}
