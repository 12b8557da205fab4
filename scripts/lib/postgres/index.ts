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
  // A client's error (the server restarted) must not crash the process: an idle client's comes to
  // the pool, a checked-out one's to the client, and `pg` raises it again at that client's next
  // query; the next query on the pool reconnects. graphile-worker 0.17 asks for both handlers
  // (its assertPool; it warns and adds its own only while it runs, which leaves gaps).
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
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
 * The queue instances and lock identities of this process: one heartbeat covers them all, and a
 * sweep never takes a lock of its own process for dead (after a database outage, the first sweep to
 * reach the database would otherwise unlock a job another queue of this process is still running,
 * and the job would run twice and leave its tenant's queue locked).
 *
 * A job's lock identity (`locked_by`) is its worker pool's id, one per `run()`, shared by all its
 * workers: graphile-worker 0.17 locks "jobs and queues by their WorkerPool's id rather than the
 * workerId" (its RELEASE_NOTES, 0.17.0; `batchGetJobs(…, workerPool.id, …)` in its dist/main.js).
 * So that id is what an instance registers (`service_workers.worker_id`) and what the sweep unlocks.
 */
const localInstances = new Set<string>();
const localLocks = new Set<string>();

/** Unlocks the jobs held by lock identities whose process stopped heartbeating; returns those identities. */
export async function unlockDeadWorkers(pool: Pool, deadAfterMs: number): Promise<string[]> {
  const { rows } = await pool.query<{ locked_by: string }>(
    `select distinct locked_by from graphile_worker.jobs j
      where locked_by is not null
        and not exists (select 1 from service_workers w join service_instances i on i.id = w.instance_id
                         where w.worker_id = j.locked_by and i.heartbeat_at > now() - make_interval(secs => $1::double precision / 1000))
        -- a pool locks a job before its registration commits: give that a moment
        and locked_at < now() - interval '5 seconds'
        and not (locked_by = any($2::text[]))`,
    [deadAfterMs, [...localLocks]],
  );
  const dead = rows.map((r) => r.locked_by);
  if (dead.length) await forceUnlock(pool, dead);
  await pool.query("delete from service_instances where heartbeat_at < now() - make_interval(secs => $1::double precision / 1000 * 10)", [
    deadAfterMs,
  ]);
  return dead;
}

interface PoolEvent {
  workerPool: { id: string };
}
interface WorkerEvent {
  worker: { workerId: string; workerPool: { id: string } };
}

/**
 * Starts the queue's workers in this process, with the heartbeat and the dead-worker sweep.
 *
 * A job's result that cannot be written (the database went away): graphile-worker 0.17's worker
 * does not wait for its `completeJob`/`failJob` (dist/worker.js), so unbatched, the write's failure
 * is an unhandled rejection (the process dies) and the job stays locked. Batched, even with no
 * delay (`completeJobBatchDelay: 0`), the batcher reports it (`pool:fatalError`) and shuts the
 * whole pool down gracefully: its other workers finish their jobs first (dist/main.js). The jobs
 * stay locked by the pool's id and their queues (a tenant's) blocked. Once the pool has ended no
 * job of this process runs under that id any more: the next sweep that reaches the database
 * unlocks its jobs and starts a pool in its place.
 */
export async function startQueue(pool: Pool, tasks: TaskList, o: QueueOptions): Promise<Queue> {
  const deadAfterMs = o.deadAfterMs ?? 30_000;
  const instanceId = `${process.pid}-${randomBytes(6).toString("hex")}`;
  await pool.query("insert into service_instances (id) values ($1)", [instanceId]);
  localInstances.add(instanceId);
  const pools = new WorkerPools(pool, tasks, instanceId, o);
  await pools.start();
  const sweep = async () => {
    await pool.query("update service_instances set heartbeat_at = now() where id = any($1::text[])", [[...localInstances]]);
    await pools.replaceEnded();
    const dead = await unlockDeadWorkers(pool, deadAfterMs);
    if (dead.length) o.log?.(`queue: unlocked the jobs of ${dead.length} worker pool(s) of a stopped process`);
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
    healthy: () => Date.now() - lastSweepOk < deadAfterMs,
    async stop() {
      clearInterval(timer);
      localInstances.delete(instanceId);
      await pools.stop();
      await pool.query("delete from service_instances where id = $1", [instanceId]).catch(() => undefined);
    },
  };
}

/** How long a pool may take to end after a failed result write before it is ended forcefully (WorkerPools.killStuck). */
const STUCK_MS = 5_000;

/** The worker pools (graphile-worker runners) of one queue instance: registered, replaced when one ends, stopped. */
class WorkerPools {
  /** Pools that ended while the queue runs: their locks go and a pool starts in their place. */
  private readonly ended: string[] = [];
  /** This queue's lock identities (its pools' ids), until their jobs are unlocked. */
  private readonly locks = new Set<string>();
  private readonly registering: Promise<unknown>[] = [];
  /** Each running runner, with its end (which never rejects). */
  private readonly runners = new Map<Runner, Promise<void>>();
  private readonly events = new EventEmitter();
  private stopping = false;
  /** Each pool's runner, by the pool's id (a pool stuck in its shutdown is killed through it). */
  private readonly runnerOf = new Map<string, Runner>();
  private lastCreated?: string;
  /** Job functions still executing, by pool id (job:start to job:complete). */
  private readonly executing = new Map<string, number>();
  /** Pools that reported a result they could not write, and when. */
  private readonly fatal = new Map<string, number>();

  constructor(
    private readonly pool: Pool,
    private readonly tasks: TaskList,
    private readonly instanceId: string,
    private readonly o: QueueOptions,
  ) {
    const replaced = "ends after its running jobs and will be replaced";
    this.events.on("pool:create", ({ workerPool }: PoolEvent) => {
      this.lastCreated = workerPool.id;
      this.register(workerPool.id);
    });
    this.events.on("pool:fatalError", ({ workerPool, action }: PoolEvent & { action: string }) => {
      if (!this.fatal.has(workerPool.id)) this.fatal.set(workerPool.id, Date.now());
      o.log?.(`queue: a job's result could not be written (${action}); worker pool ${workerPool.id} ${replaced}`);
    });
    const count = (id: string, d: number) => this.executing.set(id, (this.executing.get(id) ?? 0) + d);
    this.events.on("job:start", ({ worker }: WorkerEvent) => count(worker.workerPool.id, 1));
    this.events.on("job:complete", ({ worker }: WorkerEvent) => count(worker.workerPool.id, -1));
    this.events.on("worker:fatalError", ({ worker }: WorkerEvent) =>
      o.log?.(`queue: worker ${worker.workerId} stopped; worker pool ${worker.workerPool.id} ${replaced}`),
    );
    this.events.on("pool:release", ({ workerPool }: PoolEvent) => {
      this.fatal.delete(workerPool.id);
      this.executing.delete(workerPool.id);
      this.runnerOf.delete(workerPool.id);
      if (!this.stopping) this.ended.push(workerPool.id);
    });
  }

  private register(poolId: string): void {
    this.locks.add(poolId);
    localLocks.add(poolId);
    this.registering.push(
      this.pool
        .query("insert into service_workers (worker_id, instance_id) values ($1, $2) on conflict do nothing", [poolId, this.instanceId])
        .catch((e: Error) => this.o.log?.(`queue: registering worker pool ${poolId} failed: ${e.message}`)),
    );
  }

  /** Starts one pool of `concurrency` workers; resolves once its id is registered. */
  async start(): Promise<void> {
    const runner = await run({
      pgPool: this.pool,
      taskList: this.tasks,
      concurrency: this.o.concurrency,
      pollInterval: this.o.pollIntervalMs ?? 1000,
      noHandleSignals: true,
      logger: quietLogger(),
      events: this.events as never,
      // Batched (at once): a result that cannot be written ends the pool instead of the process (above).
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    });
    if (this.lastCreated) this.runnerOf.set(this.lastCreated, runner);
    // A runner whose pool ended stops itself: it leaves the list, and its end never rejects unhandled.
    this.runners.set(
      runner,
      runner.promise.then(
        () => void this.runners.delete(runner),
        (e: Error) => {
          this.runners.delete(runner);
          this.o.log?.(`queue: a worker pool ended: ${e.message}`);
        },
      ),
    );
    await Promise.all(this.registering.splice(0));
  }

  /**
   * A pool whose result write failed shuts down gracefully, but graphile-worker 0.17 can leave that
   * shutdown waiting forever: with two results failing at once (two webhooks answered while the
   * database was down) its batcher never settled the second, the pool never ended, its jobs stayed
   * locked and its queue took no new job (test/engine/service-outage.test.ts, "webhook"). Called
   * once the database answers again: a pool that reported such a failure STUCK_MS ago and runs no
   * job function any more (job:start to job:complete; so no job can run twice) is ended forcefully
   * (`runner.kill()`: its unsettled jobs are failed, to be tried again), and its end replaces it.
   */
  private killStuck(): void {
    for (const [id, at] of this.fatal)
      if (Date.now() - at >= STUCK_MS && !(this.executing.get(id) ?? 0)) {
        const runner = this.runnerOf.get(id);
        this.fatal.delete(id);
        if (!runner) continue;
        this.o.log?.(
          `queue: worker pool ${id} has not ended ${STUCK_MS / 1000} s after its failed write, with no job running: ended forcefully`,
        );
        runner.kill("its shutdown after a failed result write did not end").catch(() => undefined);
      }
  }

  /** Unlocks the jobs of the pools that ended (none of their jobs runs any more) and starts one in place of each. */
  async replaceEnded(): Promise<void> {
    this.killStuck();
    if (!this.ended.length) return;
    const ids = this.ended.splice(0);
    try {
      await forceUnlock(this.pool, ids);
      await this.pool.query("delete from service_workers where worker_id = any($1::text[])", [ids]);
    } catch (e) {
      this.ended.push(...ids);
      throw e;
    }
    for (const id of ids) {
      this.locks.delete(id);
      localLocks.delete(id);
    }
    for (let i = 0; i < ids.length; i++) await this.start();
    this.o.log?.(`queue: unlocked the jobs of ${ids.length} ended worker pool(s) of this process and started ${ids.length} in their place`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // A runner already stopping (its pool ended) refuses stop(): wait for its end instead.
    await Promise.all(
      [...this.runners].map(([r, end]) =>
        r.stop().then(
          () => end,
          () => end,
        ),
      ),
    );
    for (const id of this.locks) localLocks.delete(id);
  }
}
