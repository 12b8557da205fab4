/**
 * The service's Postgres in one place, for the service and for any other command that keeps
 * work on it (fleet jobs, shared API budgets): the pool, the migrations (ours and the job
 * queue's), transactions, and the job queue (graphile-worker: a job is a row, so it is written
 * in the same transaction as the change that asks for it; jobs with the same queue name run one
 * at a time, which serializes a tenant's work while tenants run side by side).
 *
 * A process killed mid-job leaves its jobs locked (graphile-worker unlocks them only after
 * 4 hours). Each process here registers itself and its workers and heartbeats; a process that
 * starts, and every live one periodically, unlocks the jobs of workers whose process stopped
 * heartbeating, so a restarted service picks its interrupted work up again at once.
 */
import { randomBytes } from "crypto";
import { EventEmitter } from "events";
import { Pool, PoolClient } from "pg";
import { Logger, Runner, TaskList, makeWorkerUtils, run, runMigrations } from "graphile-worker";
import { MIGRATIONS } from "./migrations";

export type Queryable = Pick<PoolClient, "query">;

export function openPool(url: string, max = 20): Pool {
  const pool = new Pool({ connectionString: url, max });
  // An idle client's error (the server restarted) must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  return pool;
}

export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query("begin");
    const out = await fn(c);
    await c.query("commit");
    return out;
  } catch (e) {
    await c.query("rollback").catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

/** What is wrong with the database as the queue needs it (reachable, its schema there), or undefined. */
export async function databaseProblem(c: Queryable): Promise<string | undefined> {
  return c.query("select 1 from graphile_worker.jobs limit 1").then(
    () => undefined,
    (e: Error) => `database: ${e.message}`,
  );
}

/** Any number 64-bit-ish and fixed: the lock that makes two starting processes migrate one at a time. */
const MIGRATION_LOCK = 0x70656e67;

/** Applies the queue's and the service's migrations not yet applied; returns the names applied. */
export async function migrate(pool: Pool): Promise<string[]> {
  // Processes starting together (a fleet command and its workers) must not run the queue's own
  // migrations side by side: two `create schema` at once fail on Postgres' unique index. One session
  // lock around all of it (another key than ours inside, which another session takes).
  const outer = await pool.connect();
  try {
    await outer.query("select pg_advisory_lock($1)", [MIGRATION_LOCK + 1]);
    await runMigrations({ pgPool: pool, logger: quietLogger() });
    return await ourMigrations(pool);
  } finally {
    await outer.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK + 1]).catch(() => undefined);
    outer.release();
  }
}

async function ourMigrations(pool: Pool): Promise<string[]> {
  return inTransaction(pool, async (c) => {
    await c.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await c.query(
      "create table if not exists service_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())",
    );
    const done = new Set((await c.query<{ version: number }>("select version from service_migrations")).rows.map((r) => r.version));
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await c.query(m.sql);
      await c.query("insert into service_migrations (version, name) values ($1, $2)", [m.version, m.name]);
      applied.push(`${m.version} ${m.name}`);
    }
    return applied;
  });
}

export interface JobOptions {
  /** Jobs with the same queue name run one at a time, in order. */
  queue?: string;
  /** A second job with the same key replaces the first while it waits. */
  key?: string;
  maxAttempts?: number;
  runAt?: Date;
}

/** Adds a job inside the caller's transaction (`c` is the transaction's client). */
export async function enqueue(c: Queryable, task: string, payload: unknown, o: JobOptions = {}): Promise<void> {
  await c.query("select graphile_worker.add_job($1, $2::json, queue_name => $3, job_key => $4, max_attempts => $5, run_at => $6)", [
    task,
    JSON.stringify(payload),
    o.queue ?? null,
    o.key ?? null,
    o.maxAttempts ?? null,
    o.runAt ?? null,
  ]);
}

export interface QueueOptions {
  /** Jobs at once in this process. */
  concurrency: number;
  /** A process silent this long is taken for dead and its jobs are unlocked (default 30 s). */
  deadAfterMs?: number;
  /** How often to look for new jobs when no notification came (default 1 s). */
  pollIntervalMs?: number;
  log?: (line: string) => void;
}

export interface Queue {
  instanceId: string;
  runner: Runner;
  /** Whether the heartbeat reached the database lately (a readiness check). */
  healthy(): boolean;
  stop(): Promise<void>;
}

function quietLogger() {
  // graphile-worker's Logger: a factory per scope; we keep only errors.
  return new Logger(() => (level: string, message: string) => {
    if (level === "error") console.error(`queue: ${message}`);
  });
}

async function forceUnlock(pool: Pool, workerIds: string[]): Promise<void> {
  const utils = await makeWorkerUtils({ pgPool: pool, logger: quietLogger() });
  try {
    await utils.forceUnlockWorkers(workerIds);
  } finally {
    await utils.release();
  }
}

/**
 * The queue instances and workers of this process: one heartbeat covers them all, and a sweep
 * never takes a worker of its own process for dead (after a database outage, the first sweep to
 * reach the database would otherwise unlock a job another queue of this process is still running,
 * and the job would run twice and leave its tenant's queue locked).
 */
const localInstances = new Set<string>();
const localWorkers = new Set<string>();

/** Unlocks the jobs of workers whose process stopped heartbeating; returns how many workers. */
export async function unlockDeadWorkers(pool: Pool, deadAfterMs: number): Promise<string[]> {
  const { rows } = await pool.query<{ locked_by: string }>(
    `select distinct locked_by from graphile_worker.jobs j
      where locked_by is not null
        and not exists (select 1 from service_workers w join service_instances i on i.id = w.instance_id
                         where w.worker_id = j.locked_by and i.heartbeat_at > now() - make_interval(secs => $1::double precision / 1000))
        -- a worker locks a job before its registration commits: give that a moment
        and locked_at < now() - interval '5 seconds'
        and not (locked_by = any($2::text[]))`,
    [deadAfterMs, [...localWorkers]],
  );
  const dead = rows.map((r) => r.locked_by);
  if (dead.length) await forceUnlock(pool, dead);
  await pool.query("delete from service_instances where heartbeat_at < now() - make_interval(secs => $1::double precision / 1000 * 10)", [
    deadAfterMs,
  ]);
  return dead;
}

/**
 * Starts the queue's workers in this process, with the heartbeat and the dead-worker sweep.
 * graphile-worker ends a worker whose job's completion could not be written (the database went
 * away: "committing seppuku") while the process lives on: its job stays locked and its queue (a
 * tenant's) blocked. Such a worker is taken for dead at once: the next sweep that reaches the
 * database unlocks its jobs and starts a worker in its place.
 */
export async function startQueue(pool: Pool, tasks: TaskList, o: QueueOptions): Promise<Queue> {
  const deadAfterMs = o.deadAfterMs ?? 30_000;
  const instanceId = `${process.pid}-${randomBytes(6).toString("hex")}`;
  await pool.query("insert into service_instances (id) values ($1)", [instanceId]);
  localInstances.add(instanceId);
  const pending: Promise<unknown>[] = [];
  const fatal: string[] = [];
  const events = new EventEmitter();
  events.on("worker:create", ({ worker }: { worker: { workerId: string } }) => {
    localWorkers.add(worker.workerId);
    pending.push(
      pool
        .query("insert into service_workers (worker_id, instance_id) values ($1, $2) on conflict do nothing", [worker.workerId, instanceId])
        .catch((e: Error) => o.log?.(`queue: registering worker ${worker.workerId} failed: ${e.message}`)),
    );
  });
  events.on("worker:fatalError", ({ worker }: { worker: { workerId: string } }) => {
    localWorkers.delete(worker.workerId);
    fatal.push(worker.workerId);
    o.log?.(`queue: worker ${worker.workerId} stopped (its job's result could not be written); it will be replaced`);
  });
  const start = (concurrency: number) =>
    run({
      pgPool: pool,
      taskList: tasks,
      concurrency,
      pollInterval: o.pollIntervalMs ?? 1000,
      noHandleSignals: true,
      logger: quietLogger(),
      events: events as never,
    });
  const runners = [await start(o.concurrency)];
  await Promise.all(pending);
  const replaceFatal = async () => {
    if (!fatal.length) return;
    const ids = fatal.splice(0);
    try {
      await forceUnlock(pool, ids);
      await pool.query("delete from service_workers where worker_id = any($1::text[])", [ids]);
    } catch (e) {
      fatal.push(...ids);
      throw e;
    }
    runners.push(await start(ids.length));
    o.log?.(`queue: unlocked the jobs of ${ids.length} stopped worker(s) of this process and started ${ids.length} in their place`);
  };
  const sweep = async () => {
    await pool.query("update service_instances set heartbeat_at = now() where id = any($1::text[])", [[...localInstances]]);
    await replaceFatal();
    const dead = await unlockDeadWorkers(pool, deadAfterMs);
    if (dead.length) o.log?.(`queue: unlocked the jobs of ${dead.length} worker(s) of a stopped process`);
  };
  await sweep();
  let lastSweepOk = Date.now();
  const timer = setInterval(
    () => {
      sweep().then(
        () => (lastSweepOk = Date.now()),
        (e: Error) => o.log?.(`queue: heartbeat failed: ${e.message}`),
      );
    },
    Math.max(500, Math.floor(deadAfterMs / 3)),
  );
  timer.unref();
  return {
    instanceId,
    get runner() {
      return runners[0];
    },
    healthy: () => Date.now() - lastSweepOk < deadAfterMs,
    async stop() {
      clearInterval(timer);
      localInstances.delete(instanceId);
      await Promise.all(runners.map((r) => r.stop()));
      await pool.query("delete from service_instances where id = $1", [instanceId]).catch(() => undefined);
    },
  };
}
