/** SQL for a tenant's IPs and servers (as its stack's outputs last said) and its settings. */
import { Queryable } from "../../scripts/lib/postgres/index";
import type { TenantIp, TenantServer } from "../tenant-ips";

/** Makes tenant_ips say what the outputs say: new and changed IPs upserted, vanished ones released. */
export async function syncTenantIps(c: Queryable, tenant: string, ips: TenantIp[]): Promise<void> {
  for (const i of ips)
    await c.query(
      `insert into tenant_ips (tenant, ip, server, role, slot, ptr, since, status, monthly_usd, warmup, warmup_from, domains)
       values ($1, $2, $3, $4, $9, $5, $6, 'assigned', $7, $8, $10, $11)
       on conflict (tenant, ip) do update set server = excluded.server, role = excluded.role, slot = excluded.slot, ptr = excluded.ptr,
         since = excluded.since, status = 'assigned', monthly_usd = excluded.monthly_usd, warmup = excluded.warmup,
         warmup_from = excluded.warmup_from, domains = excluded.domains, released_at = null, updated_at = now()`,
      [
        tenant,
        i.ip,
        i.server,
        i.role,
        i.ptr,
        i.since ?? null,
        i.monthlyUsd,
        JSON.stringify(i.warmup ?? null),
        i.slot,
        i.warmupFrom ?? null,
        i.domains ?? null,
      ],
    );
  await c.query(
    `update tenant_ips set status = 'released', released_at = now(), updated_at = now()
      where tenant = $1 and status = 'assigned' and not (ip = any($2::text[]))`,
    [tenant, ips.map((i) => i.ip)],
  );
}

/**
 * Makes tenant_servers say what the outputs say: servers upserted (the time a server was first
 * seen is kept: the cost report bills from it), vanished ones deleted; and the tenant's budget.
 */
export async function syncTenantServers(c: Queryable, tenant: string, servers: TenantServer[], budgetUsd?: number): Promise<void> {
  await c.query("delete from tenant_servers where tenant = $1 and not (server = any($2::text[]))", [tenant, servers.map((s) => s.server)]);
  for (const s of servers)
    await c.query(
      `insert into tenant_servers (tenant, server, hostname, main_ip, plan, billing_cycle, monthly_usd) values ($1, $2, $3, $4, $5, $6, $7)
       on conflict (tenant, server) do update set hostname = excluded.hostname, main_ip = excluded.main_ip, plan = excluded.plan,
         billing_cycle = excluded.billing_cycle, monthly_usd = excluded.monthly_usd`,
      [tenant, s.server, s.hostname, s.mainIp, s.plan, s.billingCycle, s.monthlyUsd],
    );
  if (budgetUsd !== undefined)
    await c.query(
      `insert into tenant_settings (tenant, monthly_budget_usd) values ($1, $2)
       on conflict (tenant) do update set monthly_budget_usd = excluded.monthly_budget_usd`,
      [tenant, budgetUsd],
    );
}

export interface IpRow {
  ip: string;
  server: string;
  role: string;
  slot: number;
  status: string;
  ptr: string;
  since: Date | null;
  monthly_usd: string;
  warmup: Array<{ day: number; maxMessages: number }> | null;
  last_check: unknown;
  last_check_at: Date | null;
  released_at: Date | null;
  reputation: unknown;
  reputation_at: Date | null;
  warmup_from: string | null;
  domains: string[] | null;
}

/** A page of the tenant's IPs by (server, role, slot, ip), after the cursor's key. */
export async function listIps(
  c: Queryable,
  tenant: string,
  after: { server: string; role: string; slot: number; ip: string } | undefined,
  limit: number,
): Promise<IpRow[]> {
  const { rows } = await c.query<IpRow>(
    `select * from tenant_ips where tenant = $1
        and ($2::text is null or (server, role, slot, ip) > ($2::text, $3::text, $4::int, $5::text))
      order by server, role, slot, ip limit $6`,
    [tenant, after?.server ?? null, after?.role ?? null, after?.slot ?? null, after?.ip ?? null, limit],
  );
  return rows;
}

/** The switch settings; a threshold left out keeps the one saved, null removes it. */
export async function saveSettings(
  c: Queryable,
  tenant: string,
  autoEmergencySwitch: boolean,
  switchBelowScore?: number | null,
): Promise<{ switchBelowScore: number | null }> {
  const { rows } = await c.query<{ below: number | null }>(
    `insert into tenant_settings (tenant, auto_emergency_switch, switch_below_score) values ($1, $2, $3)
     on conflict (tenant) do update set auto_emergency_switch = excluded.auto_emergency_switch,
       switch_below_score = case when $4 then excluded.switch_below_score else tenant_settings.switch_below_score end
     returning switch_below_score as below`,
    [tenant, autoEmergencySwitch, switchBelowScore ?? null, switchBelowScore !== undefined],
  );
  return { switchBelowScore: rows[0].below };
}
