/**
 * Fleet jobs on the service's Postgres queue (scripts/lib/postgres/index.ts, graphile-worker):
 * one job per tenant (preview, up, or the engine's drift check), in a queue named after the
 * tenant so one tenant's work runs one at a time. `fleet worker` runs them, on any number of
 * machines against the same Postgres and the same Pulumi backend; the command that submitted
 * them waits for every result and reports as if it had run them itself. Results are rows in
 * `fleet_results` (run, tenant, result).
 *
 * A wave of an `up` halts mid-way: the first failed or policy-blocked tenant marks its run halted
 * (`fleet_halts`) and removes the run's jobs no worker has taken yet (graphile-worker's
 * `remove_job` by job key, which deletes only unlocked jobs), in the same transaction as its result;
 * a worker taking a job of a halted run skips it. Jobs already running finish; the ones removed or
 * skipped have no result and are reported as not run, and no later wave is queued (waves.ts).
 */
import { randomBytes } from "crypto";
import * as os from "os";
import { Pool } from "pg";
import { TaskList } from "graphile-worker";
import { enqueue, inTransaction, migrate, openPool, startQueue } from "../../lib/postgres/index";
import { haltRun, haltedBy, jobKey, jobsLeft, resultCount, runJobIds, runResults, saveResult } from "./runs-store";
import { DriftResult, FleetOptions, fleetPreview, fleetUp, refreshDrift } from "./commands";
import { TenantChange } from "../../lib/stacks/changes";
import { fleetProject } from "../../lib/stacks/tenants";

export const FLEET_TASK = "fleet-tenant";
export type FleetOp = "preview" | "up" | "drift";

interface JobPayload {
  run: string;
  op: FleetOp;
  tenant: string;
  root: string;
  policyPacks?: string[];
  localBackend?: string;
  /** A wave of an `up`: the first failed or blocked tenant halts the run. */
  haltOnProblem?: boolean;
}

/** The fleet's tables are migrations like every other (scripts/lib/postgres/migrations.ts). */
async function ensureTables(pool: Pool): Promise<void> {
  await migrate(pool);
}

export interface QueueRunOptions {
  /** A wave of an `up`: stop at the first failed or blocked tenant (its run's untaken jobs are removed). */
  halt?: { problem: (c: TenantChange) => void };
}

/** Submits one job per tenant and waits for all their results (progress through `o.onProgress`). */
export async function runOnQueue(
  url: string,
  o: FleetOptions,
  op: FleetOp,
  tenants: string[],
  q: QueueRunOptions = {},
): Promise<Array<TenantChange | DriftResult>> {
  const pool = openPool(url, 2);
  try {
    await ensureTables(pool);
    const run = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    await inTransaction(pool, async (c) => {
      for (const tenant of tenants)
        await enqueue(
          c,
          FLEET_TASK,
          {
            run,
            op,
            tenant,
            root: o.project.root,
            policyPacks: o.policyPacks,
            localBackend: o.localBackend,
            haltOnProblem: q.halt ? true : undefined,
          } satisfies JobPayload,
          { queue: `fleet:${tenant}`, maxAttempts: 1, key: jobKey(run, tenant) },
        );
    });
    // The jobs by id: a job removed while a worker had just taken it loses its key but still runs.
    const ids = await runJobIds(pool, run, tenants);
    o.log?.(`fleet ${op}: ${tenants.length} jobs on the queue (run ${run}); waiting for workers`);
    const started = Date.now();
    let done = 0;
    let halted = false;
    for (;;) {
      const n = await resultCount(pool, run);
      if (n !== done) {
        done = n;
        o.onProgress?.({ done, total: tenants.length, running: [], elapsedMs: Date.now() - started });
      }
      if (n >= tenants.length) break;
      if (q.halt && !halted) {
        const by = await haltedBy(pool, run);
        if (by) {
          halted = true;
          // The worker that halted removed the untaken jobs; this catches any added meanwhile.
          await haltRun(pool, run, by, tenants);
          o.log?.(`fleet ${op}: ${by} halted the run; waiting for the jobs already running`);
        }
      }
      // Halted: done once no job of the run is left running or waiting.
      if (halted) {
        if ((await jobsLeft(pool, ids)) === 0) break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const rows = await runResults<TenantChange | DriftResult>(pool, run);
    const by = new Map(rows.map((r) => [r.tenant, r.result]));
    if (!halted) return tenants.map((t) => by.get(t)!);
    // Tenants without a result were not run: the wave reports them so (waves.ts).
    const got = tenants.filter((t) => by.has(t)).map((t) => by.get(t)! as TenantChange);
    const first = got.find((c) => c.status !== "ok");
    if (first) q.halt!.problem(first);
    return got;
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
  /** Run tenant programs inline in long-lived engine workers, one per slot (scripts/lib/stacks/engine-workers.ts). */
  inline?: boolean;
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
        if (p.haltOnProblem && (await haltedBy(pool, p.run))) {
          w.log(`fleet worker ${me}: ${p.op} ${p.tenant} not run: its rollout halted`);
          return;
        }
        const o: FleetOptions = {
          project: fleetProject(p.root),
          concurrency: 1,
          policyPacks: p.policyPacks,
          localBackend: p.localBackend,
          // Its own Pulumi home per process and slot: workers on one machine never share one.
          homeTag: `worker-${process.pid}-${slot}`,
          inline: w.inline,
        };
        const result =
          p.op === "drift" ? (await refreshDrift(o, [p.tenant]))[0] : (await (p.op === "up" ? fleetUp : fleetPreview)(o, [p.tenant]))[0];
        const bad = p.haltOnProblem && p.op === "up" && (result as TenantChange).status !== "ok";
        await inTransaction(pool, async (c) => {
          await saveResult(c, p.run, p.tenant, result, me);
          if (bad) {
            const removed = await haltRun(c, p.run, p.tenant);
            w.log(
              `fleet worker ${me}: ${p.tenant} ${(result as TenantChange).status}: rollout halted, ${removed.length} jobs not started removed`,
            );
          }
        });
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
