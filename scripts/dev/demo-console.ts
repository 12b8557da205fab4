/**
 * The demo's last section (`npm run demo -- --service`): what the operations side says about the
 * demo tenant (cost with projection and budget, capacity, incidents), then the operator console's
 * address. The sign-in token is written to a file readable only by its owner, never printed.
 * When the demo runs in a terminal it waits for Enter before the service stops, so the console
 * can be opened.
 */
import { once } from "events";
import * as fs from "fs";
import * as path from "path";
import { devDir } from "../lib/engine/pulumi-env";
import type { ServiceEnvironment } from "./service-harness";

type Line = (s: string) => void;

interface CostAnswer {
  fleet: { month: string; monthToDateUsd: number; projectedUsd: number; nextMonthUsd: number; priceListChangeUsd: number };
  tenants: Array<{
    tenant: string;
    projectedUsd: number;
    budgetUsd: number | null;
    budgetPct: number | null;
    byKind: Record<string, number>;
  }>;
}

export async function consoleDemo(env: ServiceEnvironment, say: Line, detail: Line): Promise<void> {
  say("GET /reports/cost  (servers, IPs and backup storage: this month so far, projected, next month)");
  const cost = (await env.api<CostAnswer>("GET", "/reports/cost")).body;
  const f = cost.fleet;
  detail(
    `${f.month}: $${f.monthToDateUsd.toFixed(2)} so far, $${f.projectedUsd.toFixed(2)} projected, next month $${f.nextMonthUsd.toFixed(2)}`,
  );
  for (const t of cost.tenants)
    detail(
      `${t.tenant}: projected $${t.projectedUsd.toFixed(2)} (servers $${t.byKind.servers}, IPs $${t.byKind.ips}) of a $${t.budgetUsd} budget: ${t.budgetPct}%`,
    );
  say("GET /reports/capacity?all=true  (what the sending IPs may send today under their warm-up caps)");
  const cap = (
    await env.api<{ tenants: Array<{ tenant: string; capPerDay: number; usePct: number | null }> }>("GET", "/reports/capacity?all=true")
  ).body;
  for (const t of cap.tenants) detail(`${t.tenant}: up to ${t.capPerDay} messages today`);
  say("GET /incidents");
  const inc = (await env.api<{ incidents: unknown[] }>("GET", "/incidents")).body;
  detail(`${inc.incidents.length} incident(s)`);
  const file = path.join(devDir, "demo-console-token");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${env.token}\n`, { mode: 0o600 });
  say(`The operator console: ${env.service.url}/console`);
  detail(`sign in with the token in ${file} (operator: every tenant)`);
  if (process.stdin.isTTY) {
    detail("press Enter to stop the demo");
    process.stdin.resume();
    await once(process.stdin, "data");
    process.stdin.pause();
  }
}
