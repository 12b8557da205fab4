/** SQL for the operator console's pages: the fleet's tenants with their counts, one tenant's servers. */
import { Queryable } from "../../scripts/lib/postgres/index";

export interface FleetTenantRow {
  tenant: string;
  servers: number;
  sending: number;
  standby: number;
  paused: number;
  listed: number;
  open_incidents: number;
}

/**
 * A page of the scope's tenants (anything the service keeps about them), by name after `after`:
 * the three tables' primary keys read in tenant order and merged (EXPLAIN at 10,000 tenants: a
 * few hundred index entries, where a `union` read and sorted all 50,000 rows).
 */
export async function fleetTenants(
  c: Queryable,
  tenants: string[] | "*",
  after: string | undefined,
  limit: number,
): Promise<FleetTenantRow[]> {
  const { rows } = await c.query<FleetTenantRow>(
    `with t as (
       select distinct tenant from (select tenant from tenant_servers union all select tenant from tenant_ips union all select tenant from tenant_settings) x
        where ($1::text[] is null or tenant = any($1::text[])) and ($2::text is null or tenant > $2) order by tenant limit $3)
     select t.tenant,
            (select count(*) from tenant_servers s where s.tenant = t.tenant)::int as servers,
            coalesce(i.sending, 0)::int as sending, coalesce(i.standby, 0)::int as standby, coalesce(i.paused, 0)::int as paused,
            coalesce(i.listed, 0)::int as listed,
            (select count(*) from incidents n where n.tenant = t.tenant and n.status = 'open')::int as open_incidents
       from t left join lateral (
         select count(*) filter (where role = 'sending') as sending, count(*) filter (where role = 'standby') as standby,
                count(*) filter (where role = 'paused') as paused, count(*) filter (where last_check->>'blocklist' = 'listed') as listed
           from tenant_ips x where x.tenant = t.tenant and x.status = 'assigned') i on true
      order by t.tenant`,
    [tenants === "*" ? null : tenants, after ?? null, limit],
  );
  return rows;
}

/** The scope's totals: tenants, servers, IPs by role, open incidents. */
export async function fleetTotals(c: Queryable, tenants: string[] | "*") {
  const scope = tenants === "*" ? null : tenants;
  const { rows } = await c.query<{ servers: number; sending: number; standby: number; paused: number; incidents: number }>(
    `select (select count(*) from tenant_servers where $1::text[] is null or tenant = any($1::text[]))::int as servers,
            count(*) filter (where role = 'sending')::int as sending, count(*) filter (where role = 'standby')::int as standby,
            count(*) filter (where role = 'paused')::int as paused,
            (select count(*) from incidents where status = 'open' and ($1::text[] is null or tenant = any($1::text[])))::int as incidents
       from tenant_ips where status = 'assigned' and ($1::text[] is null or tenant = any($1::text[]))`,
    [scope],
  );
  return rows[0];
}

/** Whether the service keeps anything about the tenant (an unknown tenant's page is a 404). */
export async function tenantKnown(c: Queryable, tenant: string): Promise<boolean> {
  const r = await c.query(
    `select 1 where exists (select 1 from tenant_servers where tenant = $1) or exists (select 1 from tenant_ips where tenant = $1)
        or exists (select 1 from tenant_settings where tenant = $1)`,
    [tenant],
  );
  return !!r.rowCount;
}

export async function tenantServerRows(
  c: Queryable,
  tenant: string,
): Promise<Array<{ server: string; hostname: string; main_ip: string; plan: number | null; monthly_usd: string; since: Date }>> {
  return (
    await c.query("select server, hostname, main_ip, plan, monthly_usd, since from tenant_servers where tenant = $1 order by server", [
      tenant,
    ])
  ).rows;
}
