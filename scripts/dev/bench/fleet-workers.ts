/**
 * Worker scale-out: the previews of N tenants put on the Postgres queue, taken by 1, 2 and 4
 * `fleet worker` processes (one job at a time each) on this machine, against one private
 * Postgres, one file backend and the stand-ins with their limits on; API budgets shared in
 * Postgres. Figures: stacks per minute per worker count, and rate-limit refusals (0 expected).
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { devDir, engineEnv, projectRoot } from "../../lib/engine/pulumi-env";
import { ASSUMED_RATE_LIMIT } from "../standins/hostwinds";
import { startBenchFleet } from "./bench-fleet";
import { startPrivatePostgres } from "../postgres";
import { runOnQueue } from "../../cli/fleet/queue";
import { fleetProject } from "../../lib/stacks/tenants";
import { TenantChange } from "../../lib/stacks/changes";

export interface WorkersRow {
  workers: number;
  seconds: number;
  stacksPerMinute: number;
  failed: number;
}
export interface WorkersResult {
  tenants: number;
  rows: WorkersRow[];
  refused: { hostwinds: number; cloudflare: number };
}

export async function fleetWorkersBench(tenants: number, counts: number[], progress: (l: string) => void): Promise<WorkersResult> {
  const pg = await startPrivatePostgres("bench-fleet-workers");
  const fleet = await startBenchFleet({
    name: "bench-fleet-workers",
    tenants,
    prefix: "w",
    digits: 3,
    hostwinds: { rateLimit: ASSUMED_RATE_LIMIT },
    env: (backend) => ({
      HOSTWINDS_REQUESTS_PER_SECOND: "2",
      PULUMI_BACKEND_URL: `file://${path.join(devDir, "backends", backend)}`,
      PENGUINMAILS_BUDGET_DATABASE_URL: pg.url,
    }),
  });
  const { sim, cf, dir, ids, backend } = fleet;
  const procs: ChildProcess[] = [];
  try {
    const project = fleetProject(dir);
    // The stacks exist before the first measurement, so no worker count pays for creating them.
    const initEnv = { ...process.env, ...engineEnv({ backend }) };
    for (const t of ids)
      await new Promise<void>((resolve, reject) =>
        spawn("pulumi", ["stack", "init", t, "--non-interactive"], { cwd: dir, env: initEnv, stdio: "ignore" }).on("close", (c) =>
          c === 0 ? resolve() : reject(new Error(`pulumi stack init ${t}: exit ${c}`)),
        ),
      );
    const rows: WorkersRow[] = [];
    for (const n of counts) {
      progress(`${n} worker${n > 1 ? "s" : ""}: previews of ${tenants} tenants`);
      for (let i = 0; i < n; i++) {
        const w = spawn(
          process.execPath,
          [path.join(projectRoot, "dist/scripts/cli/fleet.js"), "worker", "--database", pg.url, "--root", dir],
          {
            env: process.env,
            stdio: ["ignore", "ignore", "ignore"],
          },
        );
        procs.push(w);
      }
      await new Promise((r) => setTimeout(r, 3000)); // the workers start and listen
      const t0 = Date.now();
      const results = (await runOnQueue(
        pg.url,
        { project, policyPacks: [path.join(projectRoot, "policies")] },
        "preview",
        ids,
      )) as TenantChange[];
      const seconds = (Date.now() - t0) / 1000;
      rows.push({
        workers: n,
        seconds,
        stacksPerMinute: (tenants / seconds) * 60,
        failed: results.filter((r) => r.status !== "ok").length,
      });
      for (const w of procs.splice(0)) w.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 2000));
    }
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    return { tenants, rows, refused: { hostwinds: sum(sim.refused), cloudflare: sum(cf.refused) } };
  } finally {
    for (const w of procs) w.kill("SIGTERM");
    await fleet.stop();
    await pg.stop();
  }
}

export function printFleetWorkers(r: WorkersResult): void {
  console.log(`\nFleet workers on the Postgres queue: previews of ${r.tenants} tenants (policy pack on), shared budgets in Postgres`);
  console.log("  workers   seconds   stacks/min   failed");
  for (const x of r.rows)
    console.log(
      `  ${String(x.workers).padStart(7)}  ${x.seconds.toFixed(1).padStart(8)}  ${x.stacksPerMinute.toFixed(1).padStart(11)}  ${String(x.failed).padStart(7)}`,
    );
  console.log(`  rate-limit refusals: Hostwinds ${r.refused.hostwinds}, Cloudflare ${r.refused.cloudflare}`);
}
