/**
 * The operator console and the cost report at fleet size: a private Postgres seeded with N
 * tenants (servers, IPs, budgets, 90 days of usage; scripts/dev/console-seed.ts), the service's
 * API on loopback, and each page or report fetched a few times in turn; the median and the
 * slowest of the time to the whole answer (loopback: server time plus well under a millisecond),
 * with the machine's load average beside. The fleet overview is timed twice: computed afresh on
 * every request (a service with `fleetCostTtlMs: 0`) and with its 30 s cost cache.
 * Targets (issue 27): fleet overview and tenant page under 300 ms, cost report under 2 s.
 */
import { AddressInfo } from "net";
import * as os from "os";
import { serve } from "@hono/node-server";
import { startPrivatePostgres } from "../postgres";
import { seedFleet } from "../console-seed";
import { migrate, openPool } from "../../lib/postgres/index";
import { serviceApi } from "../../../service/api";
import { createToken } from "../../../service/tokens";
import { recordCause } from "../../../service/incident-pass";

export interface ConsoleBenchResult {
  tenants: number;
  usageRows: number;
  seedSeconds: number;
  rows: Array<{ what: string; firstMs: number; medianMs: number; maxMs: number; bytes: number; targetMs: number; load: number }>;
}

export async function consoleBench(o: { tenants: number; rounds: number; progress: (l: string) => void }): Promise<ConsoleBenchResult> {
  const pg = await startPrivatePostgres("bench-console");
  const pool = openPool(pg.url, 12);
  const servers: Array<ReturnType<typeof serve>> = [];
  try {
    await migrate(pool);
    const t0 = Date.now();
    o.progress(`seeding ${o.tenants} tenants with 90 days of usage`);
    const names = await seedFleet(pool, { tenants: o.tenants, days: 90 });
    const seedSeconds = (Date.now() - t0) / 1000;
    const usageRows = Number((await pool.query("select count(*) as n from ip_usage")).rows[0].n);
    const one = names[Math.floor(names.length / 2)];
    for (let i = 0; i < 2; i++) await recordCause(pool, one, "smtp", { outcome: "fail", details: ["mx1:25: refused"] });
    const operator = await createToken(pool, "bench", "*");
    const tenantToken = await createToken(pool, "bench-tenant", [one]);
    const listen = async (fleetCostTtlMs?: number) => {
      const app = serviceApi(pool, { ratePerMinute: 1_000_000, fleetCostTtlMs });
      const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
        const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
      });
      servers.push(server);
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const base = await listen();
    const afresh = await listen(0);
    const later = `/console/fleet?after=${names[5000] ?? names[0]}`;
    const cases: Array<{ what: string; path: string; token: string; targetMs: number; base?: string }> = [
      { what: "fleet overview, afresh", path: "/console/fleet", token: operator, targetMs: 300, base: afresh },
      { what: "fleet overview, a later page, afresh", path: later, token: operator, targetMs: 300, base: afresh },
      { what: "fleet overview (30 s cost cache)", path: "/console/fleet", token: operator, targetMs: 300 },
      { what: "fleet overview, a later page (cache)", path: later, token: operator, targetMs: 300 },
      { what: "tenant page (operator)", path: `/console/tenants/${one}`, token: operator, targetMs: 300 },
      { what: "tenant page (tenant token)", path: `/console/tenants/${one}`, token: tenantToken, targetMs: 300 },
      { what: "cost report, first page (JSON)", path: "/reports/cost", token: operator, targetMs: 2000 },
      { what: "cost report, every tenant (CSV)", path: "/reports/cost?format=csv", token: operator, targetMs: 2000 },
      { what: "capacity report", path: "/reports/capacity", token: operator, targetMs: 2000 },
    ];
    const rows: ConsoleBenchResult["rows"] = [];
    for (const c of cases) {
      const times: number[] = [];
      let bytes = 0;
      let firstMs = 0;
      for (let r = 0; r < o.rounds + 1; r++) {
        const start = process.hrtime.bigint();
        const res = await fetch(`${c.base ?? base}${c.path}`, { headers: { authorization: `Bearer ${c.token}` } });
        const body = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${c.path} answered ${res.status}`);
        // the first round (cold: plans, the fleet page's 30 s cost cache) is shown apart, not in the median
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (r > 0) times.push(ms);
        else firstMs = Math.round(ms);
        bytes = body.byteLength;
      }
      times.sort((a, b) => a - b);
      rows.push({
        firstMs,
        what: c.what,
        medianMs: Math.round(times[Math.floor(times.length / 2)]),
        maxMs: Math.round(times[times.length - 1]),
        bytes,
        targetMs: c.targetMs,
        load: Math.round(os.loadavg()[0] * 10) / 10,
      });
      o.progress(`${c.what}: ${rows[rows.length - 1].medianMs} ms`);
    }
    return { tenants: o.tenants, usageRows, seedSeconds, rows };
  } finally {
    for (const server of servers) await new Promise<void>((r) => server.close(() => r()));
    await pool.end();
    await pg.stop();
  }
}

export function printConsoleBench(r: ConsoleBenchResult): void {
  console.log(
    `\nconsole and cost report: ${r.tenants} tenants, ${r.usageRows} usage rows (90 days), seeded in ${r.seedSeconds.toFixed(1)} s`,
  );
  console.log(`${"".padEnd(36)}    first  median     max  target     size   load`);
  for (const x of r.rows)
    console.log(
      `${x.what.padEnd(36)}  ${`${x.firstMs} ms`.padStart(7)}  ${`${x.medianMs} ms`.padStart(7)}  ${`${x.maxMs} ms`.padStart(7)}  ${`${x.targetMs} ms`.padStart(7)}  ${`${Math.round(x.bytes / 1024)} KiB`.padStart(7)}  ${String(x.load).padStart(5)}${x.medianMs > x.targetMs ? "  over target" : ""}`,
    );
}
