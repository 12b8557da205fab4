/** SQL for monitoring: the IPs and servers to check, each check's result, the advisory lock of a pass. */
import { Queryable } from "../../scripts/lib/postgres/index";
import { CheckResult } from "../../scripts/lib/verify/result";
import type { ServerCheck } from "../server-checks";

export type Verdict = "listed" | "not listed" | "unknown";

export interface MonitoredIp {
  tenant: string;
  ip: string;
  server: string;
  role: string;
  slot: number;
  last_check: { blocklist?: Verdict } | null;
  warmup: Array<{ day: number; maxMessages: number }> | null;
}

export async function assignedIps(c: Queryable): Promise<MonitoredIp[]> {
  return (
    await c.query<MonitoredIp>(
      "select tenant, ip, server, role, slot, last_check, warmup from tenant_ips where status = 'assigned' order by tenant, ip",
    )
  ).rows;
}

export async function monitoredServers(
  c: Queryable,
): Promise<Array<{ tenant: string; server: string; hostname: string; main_ip: string }>> {
  return (await c.query("select tenant, server, hostname, main_ip from tenant_servers order by tenant, server")).rows;
}

export async function saveLastCheck(c: Queryable, tenant: string, ip: string, check: unknown): Promise<void> {
  await c.query("update tenant_ips set last_check = $3, last_check_at = now() where tenant = $1 and ip = $2", [
    tenant,
    ip,
    JSON.stringify(check),
  ]);
}

export async function keepResult(c: Queryable, tenant: string, ip: string, r: CheckResult): Promise<void> {
  await c.query("insert into monitor_results (tenant, ip, check_name, status, detail) values ($1, $2, $3, $4, $5)", [
    tenant,
    ip,
    r.check,
    r.status,
    `${r.subject}: ${r.detail}`,
  ]);
}

/**
 * The standby IP that takes the next paused IP's place on the server (the first not yet sending in
 * another's: the k-th paused sending IP → the k-th standby, components/outbound-relay.ts), or undefined.
 */
export async function freeStandby(c: Queryable, tenant: string, server: string): Promise<string | undefined> {
  const r = await c.query<{ ip: string }>(
    "select ip from tenant_ips where tenant = $1 and server = $2 and role = 'standby' and status = 'assigned' order by slot limit 1",
    [tenant, server],
  );
  return r.rows[0]?.ip;
}

export async function tryPassLock(c: Queryable, key: number): Promise<boolean> {
  return (await c.query<{ ok: boolean }>("select pg_try_advisory_lock($1) as ok", [key])).rows[0].ok;
}

export async function passUnlock(c: Queryable, key: number): Promise<void> {
  await c.query("select pg_advisory_unlock($1)", [key]);
}

/** A server's latest check over SSH (service/server-checks.ts `ServerCheck`). */
export async function saveServerCheck(c: Queryable, tenant: string, server: string, check: unknown): Promise<void> {
  await c.query("update tenant_servers set last_check = $3, last_check_at = now() where tenant = $1 and server = $2", [
    tenant,
    server,
    JSON.stringify(check),
  ]);
}

/** The tenant's servers' latest checks (null before the first). */
export async function serverChecks(
  c: Queryable,
  tenant: string,
): Promise<Array<{ server: string; last_check: ServerCheck | null; last_check_at: Date | null }>> {
  return (await c.query("select server, last_check, last_check_at from tenant_servers where tenant = $1 order by server", [tenant])).rows;
}

/** The servers of the scope that have a check, with their plan and price (capacity advice's larger plans). */
export async function checkedServers(
  c: Queryable,
  tenants: string[] | "*",
): Promise<Array<{ tenant: string; server: string; plan: number; billing_cycle: string; monthly_usd: string; last_check: ServerCheck }>> {
  return (
    await c.query(
      `select tenant, server, plan, billing_cycle, monthly_usd, last_check from tenant_servers
        where last_check is not null and plan is not null and ($1::text[] is null or tenant = any($1::text[])) order by tenant, server`,
      [tenants === "*" ? null : tenants],
    )
  ).rows;
}
