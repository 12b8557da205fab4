/** SQL for a tenant's mailboxes (as its stack published them) and their sealed one-time credentials. */
import { Queryable } from "../../scripts/lib/postgres/index";

export interface MailboxRow {
  address: string;
  tenant: string;
  domain: string;
  quota_mb: number;
  enabled: boolean;
  host: string;
}

/** Makes tenant_mailboxes say what the stack published: each upserted, those gone deleted. */
export async function syncTenantMailboxes(c: Queryable, tenant: string, boxes: Array<Omit<MailboxRow, "tenant">>): Promise<void> {
  for (const m of boxes)
    await c.query(
      `insert into tenant_mailboxes (address, tenant, domain, quota_mb, enabled, host) values ($1, $2, $3, $4, $5, $6)
       on conflict (address) do update set tenant = excluded.tenant, domain = excluded.domain, quota_mb = excluded.quota_mb,
         enabled = excluded.enabled, host = excluded.host`,
      [m.address, tenant, m.domain, m.quota_mb, m.enabled, m.host],
    );
  await c.query("delete from tenant_mailboxes where tenant = $1 and not (address = any($2::text[]))", [
    tenant,
    boxes.map((m) => m.address),
  ]);
}

export async function listMailboxes(
  c: Queryable,
  tenant: string,
  domain: string,
  after: string | undefined,
  limit: number,
): Promise<MailboxRow[]> {
  const { rows } = await c.query<MailboxRow>(
    "select * from tenant_mailboxes where tenant = $1 and domain = $2 and ($3::text is null or address > $3) order by address limit $4",
    [tenant, domain, after ?? null, limit],
  );
  return rows;
}

export async function getMailbox(c: Queryable, tenant: string, address: string): Promise<MailboxRow | undefined> {
  const { rows } = await c.query<MailboxRow>("select * from tenant_mailboxes where tenant = $1 and address = $2", [tenant, address]);
  return rows[0];
}

/** The tenant's mailboxes now, plus those asked for by add_mailbox requests still open. */
export async function mailboxesInUse(c: Queryable, tenant: string): Promise<number> {
  const { rows } = await c.query<{ n: string }>(
    `select (select count(*) from tenant_mailboxes where tenant = $1)
          + (select count(*) from service_requests where tenant = $1 and kind = 'add_mailbox'
               and status in ('requested', 'confirmed', 'purchasing')) as n`,
    [tenant],
  );
  return Number(rows[0].n);
}

/** Keeps a request's sealed password until it is read (a retried job writes the same row once). */
export async function saveCredential(c: Queryable, requestId: string, tenant: string, address: string, sealed: Buffer): Promise<void> {
  await c.query(
    "insert into mailbox_credentials (request_id, tenant, address, sealed) values ($1, $2, $3, $4) on conflict (request_id) do nothing",
    [requestId, tenant, address, sealed],
  );
}

/** Takes a request's sealed password out: the first reader gets it, the row is gone after. */
export async function takeCredential(c: Queryable, requestId: string): Promise<{ address: string; sealed: Buffer } | undefined> {
  const { rows } = await c.query<{ address: string; sealed: Buffer }>(
    "delete from mailbox_credentials where request_id = $1 returning address, sealed",
    [requestId],
  );
  return rows[0];
}
