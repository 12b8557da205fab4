/** SQL for a tenant's sending domains: what verification expects of each, and its last verification. */
import { Queryable } from "../../scripts/lib/postgres/index";
import type { DomainStatus, DomainToVerify, DomainVerification } from "../../scripts/lib/verify/domain";

export interface DomainRow {
  domain: string;
  tenant: string;
  zone: string;
  status: DomainStatus;
  expected: Omit<DomainToVerify, "zone">;
  verification: DomainVerification | null;
  checked_at: Date | null;
  status_changed_at: Date;
  /** Monitoring passes since the monitor last verified it. */
  monitor_skips?: number;
}

/**
 * Makes tenant_domains say what the stack published: each domain upserted with what it must serve
 * (a domain whose records changed is pending again until verified), domains gone from the stack deleted.
 */
export async function syncTenantDomains(
  c: Queryable,
  tenant: string,
  domains: Array<{ domain: string; zone: string; expected: Omit<DomainToVerify, "zone"> }>,
): Promise<void> {
  for (const d of domains)
    await c.query(
      `insert into tenant_domains (domain, tenant, zone, expected) values ($1, $2, $3, $4)
       on conflict (domain) do update set tenant = excluded.tenant, zone = excluded.zone, expected = excluded.expected`,
      [d.domain, tenant, d.zone, JSON.stringify(d.expected)],
    );
  await c.query("delete from tenant_domains where tenant = $1 and not (domain = any($2::text[]))", [tenant, domains.map((d) => d.domain)]);
}

export async function listDomains(c: Queryable, tenant: string, after: string | undefined, limit: number): Promise<DomainRow[]> {
  const { rows } = await c.query<DomainRow>(
    "select * from tenant_domains where tenant = $1 and ($2::text is null or domain > $2) order by domain limit $3",
    [tenant, after ?? null, limit],
  );
  return rows;
}

export async function getDomain(c: Queryable, tenant: string, domain: string): Promise<DomainRow | undefined> {
  const { rows } = await c.query<DomainRow>("select * from tenant_domains where tenant = $1 and domain = $2", [tenant, domain]);
  return rows[0];
}

/** The tenant a domain belongs to, if any. */
export async function domainOwner(c: Queryable, domain: string): Promise<string | undefined> {
  const { rows } = await c.query<{ tenant: string }>("select tenant from tenant_domains where domain = $1", [domain]);
  return rows[0]?.tenant;
}

/** Records a verification (row locked by the caller's transaction); returns the status before it. */
export async function saveVerification(c: Queryable, tenant: string, v: DomainVerification): Promise<DomainStatus | undefined> {
  const { rows } = await c.query<{ status: DomainStatus }>(
    "select status from tenant_domains where tenant = $1 and domain = $2 for update",
    [tenant, v.domain],
  );
  if (!rows[0]) return undefined;
  await c.query(
    `update tenant_domains set verification = $3, checked_at = $4, status = $5,
       status_changed_at = case when status = $5 then status_changed_at else now() end
     where tenant = $1 and domain = $2`,
    [tenant, v.domain, JSON.stringify(v), v.checkedAt, v.status],
  );
  return rows[0].status;
}

/** The tenant with an open request to add this domain, other than `tenant`, if any. */
export async function pendingDomainOwner(c: Queryable, domain: string, tenant: string): Promise<string | undefined> {
  const { rows } = await c.query<{ tenant: string }>(
    `select tenant from service_requests
      where kind = 'add_domain' and params->>'name' = $1 and tenant <> $2
        and status in ('requested', 'confirmed', 'purchasing', 'releasing') limit 1`,
    [domain, tenant],
  );
  return rows[0]?.tenant;
}

/** Whether a domain of the tenant failed its last verification. */
export async function hasFailingDomain(c: Queryable, tenant: string): Promise<boolean> {
  const { rows } = await c.query("select 1 from tenant_domains where tenant = $1 and status = 'failing' limit 1", [tenant]);
  return rows.length > 0;
}

/** The monitor's bookkeeping: the domains it verified this pass start counting again, the others count one more pass. */
export async function countMonitorSkips(c: Queryable, tenant: string, verified: string[], skipped: string[]): Promise<void> {
  if (verified.length)
    await c.query("update tenant_domains set monitor_skips = 0 where tenant = $1 and domain = any($2::text[])", [tenant, verified]);
  if (skipped.length)
    await c.query("update tenant_domains set monitor_skips = monitor_skips + 1 where tenant = $1 and domain = any($2::text[])", [
      tenant,
      skipped,
    ]);
}
