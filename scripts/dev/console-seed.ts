/**
 * Seeded data for the operator console's test, its benchmark and the demo: tenants with servers,
 * IPs (warm-up plans, blocklist verdicts), 90 days of usage, budgets, in a few set-based
 * statements (10,000 tenants with 90 days of usage take seconds, not minutes). Development only.
 */
import { Pool } from "pg";

export interface SeedOptions {
  tenants: number;
  /** Tenant ids are `${prefix}${n}` (zero-padded), or `names` when given. */
  prefix?: string;
  names?: string[];
  ipsPerTenant?: number;
  days?: number;
}

const PLAN = JSON.stringify([
  { day: 1, maxMessages: 50 },
  { day: 2, maxMessages: 100 },
  { day: 3, maxMessages: 200 },
  { day: 4, maxMessages: 400 },
  { day: 5, maxMessages: 800 },
  { day: 6, maxMessages: 1600 },
  { day: 7, maxMessages: 3000 },
]);

/** Writes the tenants; returns their ids. */
export async function seedFleet(pool: Pool, o: SeedOptions): Promise<string[]> {
  const names = o.names ?? Array.from({ length: o.tenants }, (_, i) => `${o.prefix ?? "t"}${String(i).padStart(5, "0")}`);
  const ips = o.ipsPerTenant ?? 3;
  const days = o.days ?? 90;
  await pool.query(
    `insert into tenant_servers (tenant, server, hostname, main_ip, plan, billing_cycle, monthly_usd, since)
     select t, 'mx1', 'mx1.' || t || '.example', '10.' || (n / 65536) % 256 || '.' || (n / 256) % 256 || '.' || n % 256, 101, 'monthly', 9.99,
            now() - interval '120 days'
       from unnest($1::text[]) with ordinality as x(t, n)`,
    [names],
  );
  await pool.query(
    `insert into tenant_settings (tenant, monthly_budget_usd) select t, case when n % 7 = 0 then 20 else 60 end
       from unnest($1::text[]) with ordinality as x(t, n)`,
    [names],
  );
  await pool.query(
    `insert into tenant_ips (tenant, ip, server, role, slot, ptr, since, status, monthly_usd, warmup, last_check)
     select t, '100.' || (n / 256) % 256 || '.' || n % 256 || '.' || k, 'mx1', case when k = $2 then 'standby' else 'sending' end,
            k, 'm' || k || '.' || t || '.example', now() - make_interval(days => case when k = 2 then 3 else 100 end), 'assigned', 4.99,
            $3::jsonb, jsonb_build_object('blocklist', case when n % 50 = 0 and k = 1 then 'listed' else 'not listed' end)
       from unnest($1::text[]) with ordinality as x(t, n), generate_series(1, $2::int) k`,
    [names, ips, PLAN],
  );
  await pool.query(
    `insert into ip_usage (tenant, ip, day, sent)
     select i.tenant, i.ip, current_date - d, (500 + (hashtext(i.ip || d) & 1023) + case when d = 10 and i.slot = 1 then 20000 else 0 end)::int
       from tenant_ips i, generate_series(0, $2::int - 1) d
      where i.tenant = any($1::text[]) and i.role = 'sending'`,
    [names, days],
  );
  await pool.query("analyze");
  return names;
}
