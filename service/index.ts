/**
 * The provisioning service put together: migrations at start, the queue's workers (requests in
 * per-tenant queues, webhooks), the HTTP API and the monitoring timer. `startService` is what
 * `npm run service` runs; tests and the demo run it as a process too.
 */
import * as path from "path";
import { AddressInfo } from "net";
import { serve } from "@hono/node-server";
import { Pool } from "pg";
import { devDir, projectRoot } from "../scripts/lib/engine/pulumi-env";
import { serviceApi } from "./api";
import { APPLY_TASK, WEBHOOK_TASK, advance, getRequest } from "./lifecycle";
import { ApplyContext, SlotPool, applyRequest } from "./apply";
import { ConfigRepo } from "./config-repo";
import { MonitorOptions, monitorOnce } from "./monitor";
import { Queue, migrate, openPool, startQueue } from "../scripts/lib/postgres/index";
import { WebhookOptions, deliverWebhook } from "./webhooks";

export interface ServiceOptions {
  databaseUrl: string;
  configRepo: { remote: string; branch: string; dir?: string };
  listen: { host: string; port: number };
  /** Tenants applied at once (each has its own clone and Pulumi home). */
  concurrency: number;
  policyPacks?: string[];
  /** Local backend folder name when PULUMI_BACKEND_URL is not set. */
  localBackend?: string;
  webhook: WebhookOptions;
  /** Seconds between monitoring passes; 0 turns monitoring off. */
  monitorEverySeconds: number;
  monitor: Omit<MonitorOptions, "log">;
  deadAfterMs?: number;
  log?: (line: string) => void;
}

export interface RunningService {
  url: string;
  pool: Pool;
  stop(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const log = o.log ?? ((l: string) => console.log(`${new Date().toISOString()} ${l}`));
  const pool = openPool(o.databaseUrl, o.concurrency * 2 + 10);
  const applied = await migrate(pool);
  if (applied.length) log(`service: applied migrations ${applied.join(", ")}`);

  const ctx: ApplyContext = {
    pool,
    repo: new ConfigRepo({
      remote: o.configRepo.remote,
      branch: o.configRepo.branch,
      dir: o.configRepo.dir ?? path.join(devDir, "service", "clones"),
    }),
    slots: new SlotPool(o.concurrency),
    engine: { localBackend: o.localBackend },
    policyPacks: o.policyPacks ?? [path.join(projectRoot, "policies")],
    log,
  };
  const queue: Queue = await startQueue(
    pool,
    {
      [APPLY_TASK]: async (payload, helpers) => {
        const { requestId } = payload as { requestId: string };
        const attempt = { attempts: helpers.job.attempts, maxAttempts: helpers.job.max_attempts };
        try {
          await applyRequest(ctx, requestId, attempt);
        } catch (e) {
          log(`request ${requestId}: attempt ${attempt.attempts} of ${attempt.maxAttempts} failed: ${(e as Error).message}`);
          // The last attempt ends the request instead of leaving it mid-way.
          if (attempt.attempts >= attempt.maxAttempts) {
            const row = await getRequest(pool, requestId);
            if (row) await advance(pool, requestId, "failed", { failure_reason: (e as Error).message.slice(0, 1000) });
            return;
          }
          throw e;
        }
      },
      [WEBHOOK_TASK]: async (payload) => deliverWebhook(pool, o.webhook, (payload as { id: number }).id),
    },
    // Webhook jobs share the workers: one more than the engine slots keeps deliveries moving while every slot applies.
    { concurrency: o.concurrency + 2, deadAfterMs: o.deadAfterMs, log },
  );

  const app = serviceApi(pool);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: o.listen.host, port: o.listen.port }, () => resolve(s));
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address}:${addr.port}`;
  log(`service: listening on ${url} (queue instance ${queue.instanceId}, ${o.concurrency} engine slots)`);

  let monitorTimer: NodeJS.Timeout | undefined;
  if (o.monitorEverySeconds > 0) {
    const tick = () =>
      monitorOnce(pool, { ...o.monitor, log })
        .then(
          (p) => p && (p.alerts || p.switches.length) && log(`monitor: ${p.ips} IPs of ${p.tenants} tenants checked, ${p.alerts} alerts`),
        )
        .catch((e: Error) => log(`monitor: the pass failed: ${e.message}`));
    monitorTimer = setInterval(tick, o.monitorEverySeconds * 1000);
  }

  return {
    url,
    pool,
    async stop() {
      if (monitorTimer) clearInterval(monitorTimer);
      await new Promise<void>((r) => server.close(() => r()));
      await queue.stop();
      await pool.end();
    },
  };
}
