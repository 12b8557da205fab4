/** SQL for tenants onboarded and offboarded through the API, and a tenant's open requests. */
import { Queryable } from "../../scripts/lib/postgres/index";

export type TenantStatus = "onboarding" | "active" | "offboarding" | "offboarded";
export interface TenantRow {
  id: string;
  status: TenantStatus;
  config: Record<string, unknown>;
  created_at: Date;
  offboarded_at: Date | null;
  offboarding: Record<string, unknown> | null;
}

/** Records a tenant being onboarded (again, after an offboarding: it starts over). */
export async function startOnboarding(c: Queryable, id: string, config: unknown): Promise<void> {
  await c.query(
    `insert into service_tenants (id, status, config) values ($1, 'onboarding', $2)
     on conflict (id) do update set status = 'onboarding', config = excluded.config, created_at = now(), offboarded_at = null, offboarding = null`,
    [id, JSON.stringify(config)],
  );
}

export async function setTenantStatus(c: Queryable, id: string, status: TenantStatus, offboarding?: unknown): Promise<void> {
  await c.query(
    `update service_tenants set status = $2,
       offboarded_at = case when $2 = 'offboarded' then now() else offboarded_at end,
       offboarding = coalesce($3::jsonb, offboarding)
     where id = $1`,
    [id, status, offboarding === undefined ? null : JSON.stringify(offboarding)],
  );
}

export async function getTenantRow(c: Queryable, id: string): Promise<TenantRow | undefined> {
  const { rows } = await c.query<TenantRow>("select * from service_tenants where id = $1", [id]);
  return rows[0];
}

export async function listTenantRows(c: Queryable, after: string | undefined, limit: number): Promise<TenantRow[]> {
  const { rows } = await c.query<TenantRow>("select * from service_tenants where ($1::text is null or id > $1) order by id limit $2", [
    after ?? null,
    limit,
  ]);
  return rows;
}

/** The tenant's requests not yet ended (other than `except`), oldest first. */
export async function openRequestsOf(
  c: Queryable,
  tenant: string,
  except?: string,
): Promise<Array<{ id: string; kind: string; status: string }>> {
  const { rows } = await c.query<{ id: string; kind: string; status: string }>(
    `select id, kind, status from service_requests
      where tenant = $1 and status in ('requested', 'confirmed', 'purchasing', 'releasing') and ($2::uuid is null or id <> $2)
      order by requested_at`,
    [tenant, except ?? null],
  );
  return rows;
}

/** The newest onboarding request of the tenant that did not end refused, failed or cancelled. */
export async function liveOnboarding(c: Queryable, tenant: string): Promise<{ id: string; params: unknown } | undefined> {
  const { rows } = await c.query<{ id: string; params: unknown }>(
    `select id, params from service_requests
      where tenant = $1 and kind = 'create_tenant' and status not in ('rejected', 'failed', 'cancelled')
      order by requested_at desc limit 1`,
    [tenant],
  );
  return rows[0];
}

/** The tenant's servers and their main IPs, and its assigned IPs, as last recorded. */
export async function tenantHoldings(
  c: Queryable,
  tenant: string,
): Promise<{
  servers: Array<{ server: string; hostname: string; main_ip: string }>;
  ips: Array<{ ip: string; server: string; role: string }>;
}> {
  const servers = await c.query<{ server: string; hostname: string; main_ip: string }>(
    "select server, hostname, main_ip from tenant_servers where tenant = $1 order by server",
    [tenant],
  );
  const ips = await c.query<{ ip: string; server: string; role: string }>(
    "select ip, server, role from tenant_ips where tenant = $1 and status = 'assigned' order by server, role, slot",
    [tenant],
  );
  return { servers: servers.rows, ips: ips.rows };
}
