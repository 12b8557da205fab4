/**
 * The provisioning service put together: migrations at start, the queue's workers (requests in
 * per-tenant queues, webhooks), the HTTP API and the monitoring timer. `startService` is what
 * `npm run service` runs; tests and the demo run it as a process too.
 */
import * as path from "path";
import { AddressInfo } from "net";
import { serve } from "@hono/node-server";
import { Pool } from "pg";
import { devDir, prepareToolchain, projectRoot } from "../scripts/lib/engine/pulumi-env";
import { untilDatabase } from "../scripts/lib/postgres/outage";
import { prune } from "./store/retention";
import { serviceApi } from "./api";
import { APPLY_TASK, WEBHOOK_TASK, advance } from "./lifecycle";
import { ApplyContext, SlotPool, applyRequest } from "./apply";
import { ConfigRepo } from "./config-repo";
import { budgetPass } from "./budget-alerts";
import { NotifyOptions, notifyPass } from "./notify";
import { MonitorOptions, monitorOnce } from "./monitor";
import { ServerCheckOptions, stackServerAccess } from "./server-pass";
import { Queue, databaseProblem, migrate, openPool, startQueue } from "../scripts/lib/postgres/index";
import { WebhookOptions, deliverWebhook } from "./webhooks";
import type { VerificationOptions } from "./domains";
import { randomBytes } from "crypto";
import { stopEngineWorkers } from "../scripts/lib/stacks/engine-workers";

export interface ServiceOptions {
  databaseUrl: string;
  configRepo: { remote: string; branch: string; dir?: string };
  listen: { host: string; port: number };
  /** Tenants applied at once (each has its own clone and Pulumi home). */
  concurrency: number;
  policyPacks?: string[];
  /** Local backend folder name when PULUMI_BACKEND_URL is not set. */
  localBackend?: string;
  /**
   * Each slot's `up` runs the tenant program inline in a long-lived engine worker (the fleet's,
   * scripts/lib/stacks/engine-workers.ts) instead of a CLI program started per request (default
   * true; `serve --no-inline` turns it off).
   */
  inline?: boolean;
  webhook: WebhookOptions;
  /** Seconds between monitoring passes; 0 turns monitoring off. */
  monitorEverySeconds: number;
  monitor: Omit<MonitorOptions, "log" | "servers">;
  /** The server checks over SSH (their connections are read from each tenant's stack); false: none. */
  serverChecks?: Omit<ServerCheckOptions, "connect" | "forget"> | false;
  /** Incident channels and escalation (default: the webhook only, escalation after 30 minutes). */
  incidents?: Omit<NotifyOptions, "consoleUrl">;
  deadAfterMs?: number;
  /** Webhook deliveries at once (their own workers; default 4). */
  webhookConcurrency?: number;
  /** Days monitoring results and delivered webhooks are kept (default 90). */
  retentionDays?: number;
  /** Where domains are verified (after each apply and on POST …/verify). */
  verification?: VerificationOptions;
  /** Seals mailbox passwords until read once (./credentials.ts; default: a key made at start). */
  credentialKey?: Buffer;
  /** The restic repository tenants onboarded through the API back up to (./tenant-backup.ts). */
  backupRepository?: string;
  log?: (line: string) => void;
}

export interface RunningService {
  url: string;
  pool: Pool;
  stop(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const log = o.log ?? ((l: string) => console.log(`${new Date().toISOString()} ${l}`));
  // The slow work first: a fresh host builds the engine here, never inside a request.
  const bin = await prepareToolchain(log);
  log(`service: toolchain ready (${path.basename(path.dirname(bin))})`);
  const pool = openPool(o.databaseUrl, o.concurrency * 2 + 14);
  const applied = await migrate(pool);
  if (applied.length) log(`service: applied migrations ${applied.join(", ")}`);
  const credentialKey = o.credentialKey ?? randomBytes(32);
  const ctx = { ...applyContext(o, pool, log), credentialKey };
  const { applies, hooks } = await startQueues(o, ctx, log);
  const app = serviceApi(pool, { notReady: () => notReady(pool, [applies, hooks]), verification: o.verification, credentialKey });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: o.listen.host, port: o.listen.port }, () => resolve(s));
  });
  // Keep idle connections longer than any client's keep-alive (undici's is 4 s): a client never
  // reuses a socket the service is just closing ("other side closed" on a POST, seen at load 40).
  Object.assign(server, { keepAliveTimeout: 65_000, headersTimeout: 66_000 });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address}:${addr.port}`;
  log(`service: listening on ${url} (queue instance ${applies.instanceId}, ${o.concurrency} engine slots)`);
  const servers = o.serverChecks === false ? undefined : { ...o.serverChecks, ...stackServerAccess(ctx) };
  const timers = startTimers({ ...o, monitor: { ...o.monitor, ...(servers ? { servers } : {}) } }, pool, log, url);
  return {
    url,
    pool,
    async stop() {
      timers.forEach((t) => clearInterval(t));
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.all([applies.stop(), hooks.stop()]);
      // The slots' engine workers end once idle (they would also end with this process).
      await stopEngineWorkers();
      await pool.end();
    },
  };
}

function applyContext(o: ServiceOptions, pool: Pool, log: (line: string) => void): ApplyContext {
  return {
    pool,
    repo: new ConfigRepo({
      remote: o.configRepo.remote,
      branch: o.configRepo.branch,
      dir: o.configRepo.dir ?? path.join(devDir, "service", "clones"),
    }),
    slots: new SlotPool(o.concurrency),
    engine: { localBackend: o.localBackend },
    workers: o.inline !== false,
    policyPacks: o.policyPacks ?? [path.join(projectRoot, "policies")],
    log,
    verification: o.verification,
    backupRepository: o.backupRepository,
  };
}

/**
 * Two sets of workers: applies (one engine slot each) and webhook deliveries (their own, so a
 * receiver that never answers delays no apply; each try waits at most the webhook timeout).
 */
async function startQueues(o: ServiceOptions, ctx: ApplyContext, log: (line: string) => void) {
  const { pool } = ctx;
  const applies = await startQueue(
    pool,
    {
      [APPLY_TASK]: async (payload, helpers) => {
        const { requestId } = payload as { requestId: string };
        const attempt = { attempts: helpers.job.attempts, maxAttempts: helpers.job.max_attempts };
        try {
          await applyRequest(ctx, requestId, attempt);
        } catch (e) {
          log(`request ${requestId}: attempt ${attempt.attempts} of ${attempt.maxAttempts} failed: ${(e as Error).message}`);
          if (attempt.attempts < attempt.maxAttempts) throw e;
          // The last attempt ends the request instead of leaving it mid-way.
          await untilDatabase(() => advance(pool, requestId, "failed", { failure_reason: (e as Error).message.slice(0, 1000) }));
        }
      },
    },
    { concurrency: o.concurrency, deadAfterMs: o.deadAfterMs, log },
  );
  const hooks = await startQueue(
    pool,
    {
      [WEBHOOK_TASK]: async (payload, helpers) =>
        deliverWebhook(pool, o.webhook, (payload as { id: number }).id, {
          attempts: helpers.job.attempts,
          maxAttempts: helpers.job.max_attempts,
        }),
    },
    { concurrency: o.webhookConcurrency ?? 4, deadAfterMs: o.deadAfterMs, log },
  );
  return { applies, hooks };
}

/** What keeps the service from taking work: the database, or a queue whose heartbeat does not reach it. */
async function notReady(pool: Pool, queues: Queue[]): Promise<string[]> {
  const problems: string[] = [];
  const db = await databaseProblem(pool);
  if (db) problems.push(db);
  if (!queues.every((q) => q.healthy())) problems.push("queue: the workers' heartbeat has not reached the database lately");
  return problems;
}

function startTimers(
  o: Omit<ServiceOptions, "monitor"> & { monitor: Omit<MonitorOptions, "log"> },
  pool: Pool,
  log: (line: string) => void,
  url: string,
): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  if (o.monitorEverySeconds > 0) {
    const tick = () =>
      monitorOnce(pool, { ...o.monitor, ...(o.verification ? { domains: o.verification } : {}), log })
        .then(
          (p) => p && (p.alerts || p.switches.length) && log(`monitor: ${p.ips} IPs of ${p.tenants} tenants checked, ${p.alerts} alerts`),
        )
        .then(() =>
          notifyPass(pool, { ...(o.incidents ?? { channels: [{ kind: "webhook" }], escalateAfterMinutes: 30 }), consoleUrl: url }),
        )
        .then((n) => n && log(`incidents: ${n} notification(s) sent`))
        .catch((e: Error) => log(`monitor: the pass failed: ${e.message}`));
    timers.push(setInterval(tick, o.monitorEverySeconds * 1000));
    const budgets = () =>
      budgetPass(pool)
        .then((sent) => sent.forEach((a) => log(`budget: ${a.tenant} projected at ${a.threshold}% of its budget (alert sent)`)))
        .catch((e: Error) => log(`budget: the pass failed: ${e.message}`));
    timers.push(setInterval(budgets, o.monitorEverySeconds * 1000));
  }
  const days = o.retentionDays ?? 90;
  const prunePass = () =>
    prune(pool, days)
      .then((n) => Object.values(n).some((x) => x > 0) && log(`retention: pruned ${JSON.stringify(n)} (kept ${days} days)`))
      .catch((e: Error) => log(`retention: the pass failed: ${e.message}`));
  void prunePass();
  timers.push(setInterval(prunePass, 60 * 60_000));
  timers.forEach((t) => t.unref());
  return timers;
}
