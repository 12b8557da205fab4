/**
 * A tenant's IPs as its stack's outputs describe them (servers in config order, sending and
 * standby IPs with their host names, which IPs mail leaves from, the warm-up plan), and the
 * tenant_ips table that keeps them for the API, the unused-IP report and monitoring.
 */
import { Tenant, billedIps } from "../providers/model/tenant";
import { warmupDay } from "../providers/model/warmup";
import { Queryable } from "../scripts/lib/postgres/index";

export interface TenantIp {
  ip: string;
  server: string;
  role: "sending" | "standby" | "paused";
  /** 1-based slot among the server's sending (or standby) IPs. */
  slot: number;
  ptr: string;
  since?: string;
  monthlyUsd: number;
  warmup?: Array<{ day: number; maxMessages: number }>;
}

interface Outputs {
  servers?: Array<{
    name?: string;
    mainIp?: string;
    sendingIps?: Array<{ ip: string; hostname: string; since?: string }>;
    standbyIps?: Array<{ ip: string; hostname: string; since?: string }>;
    outboundIps?: string[];
  }>;
  monthlyCostUsd?: { servers?: Array<{ ipsUsd?: number }> };
  warmup?: Array<{ ip: string; since?: string; schedule?: Array<{ day: number; maxMessages: number }> }>;
}

export function tenantIpsFromOutputs(t: Tenant, raw: Record<string, unknown>): TenantIp[] {
  const o = raw as Outputs;
  const out: TenantIp[] = [];
  (o.servers ?? []).forEach((s, i) => {
    const conf = t.servers[i];
    if (!conf) return;
    const perIp = billedIps(conf) ? (o.monthlyCostUsd?.servers?.[i]?.ipsUsd ?? 0) / billedIps(conf) : 0;
    const outbound = s.outboundIps ?? [];
    const warm = (ip: string) => o.warmup?.find((w) => w.ip === ip);
    (s.sendingIps ?? []).forEach((x, k) =>
      out.push({
        ip: x.ip,
        server: conf.name,
        role: conf.pausedIps.includes(x.ip) ? "paused" : "sending",
        slot: k + 1,
        ptr: x.hostname,
        since: x.since ?? warm(x.ip)?.since,
        monthlyUsd: Math.round(perIp * 100) / 100,
        warmup: warm(x.ip)?.schedule,
      }),
    );
    (s.standbyIps ?? []).forEach((x, k) =>
      out.push({
        ip: x.ip,
        server: conf.name,
        // A standby taking a paused IP's place is sending.
        role: outbound.includes(x.ip) ? "sending" : "standby",
        slot: k + 1,
        ptr: x.hostname,
        since: x.since ?? warm(x.ip)?.since,
        monthlyUsd: Math.round(perIp * 100) / 100,
        warmup: warm(x.ip)?.schedule,
      }),
    );
  });
  return out;
}

/** Makes tenant_ips say what the outputs say: new and changed IPs upserted, vanished ones released. */
export async function syncTenantIps(c: Queryable, tenant: string, ips: TenantIp[]): Promise<void> {
  for (const i of ips)
    await c.query(
      `insert into tenant_ips (tenant, ip, server, role, slot, ptr, since, status, monthly_usd, warmup)
       values ($1, $2, $3, $4, $9, $5, $6, 'assigned', $7, $8)
       on conflict (tenant, ip) do update set server = excluded.server, role = excluded.role, slot = excluded.slot, ptr = excluded.ptr,
         since = excluded.since, status = 'assigned', monthly_usd = excluded.monthly_usd, warmup = excluded.warmup,
         released_at = null, updated_at = now()`,
      [tenant, i.ip, i.server, i.role, i.ptr, i.since ?? null, i.monthlyUsd, JSON.stringify(i.warmup ?? null), i.slot],
    );
  await c.query(
    `update tenant_ips set status = 'released', released_at = now(), updated_at = now()
      where tenant = $1 and status = 'assigned' and not (ip = any($2::text[]))`,
    [tenant, ips.map((i) => i.ip)],
  );
}

/** The tenant's servers (logical name, host name, main IP) from the outputs, in config order. */
export function tenantServersFromOutputs(
  t: Tenant,
  raw: Record<string, unknown>,
): Array<{ server: string; hostname: string; mainIp: string }> {
  return ((raw as Outputs).servers ?? []).flatMap((s, i) =>
    t.servers[i] && s.name && s.mainIp ? [{ server: t.servers[i].name, hostname: s.name, mainIp: s.mainIp }] : [],
  );
}

export async function syncTenantServers(
  c: Queryable,
  tenant: string,
  servers: Array<{ server: string; hostname: string; mainIp: string }>,
): Promise<void> {
  await c.query("delete from tenant_servers where tenant = $1", [tenant]);
  for (const s of servers)
    await c.query("insert into tenant_servers (tenant, server, hostname, main_ip) values ($1, $2, $3, $4)", [
      tenant,
      s.server,
      s.hostname,
      s.mainIp,
    ]);
}

/** The warm-up day of an IP got at `since` (day 1 is the UTC date it was got, as the server's cap counts) and that day's volume. */
export function warmupToday(since: Date | string | null, schedule: Array<{ day: number; maxMessages: number }> | null, now = new Date()) {
  if (!since) return { day: null, maxMessages: null };
  const day = warmupDay(since, now);
  const step =
    schedule?.find((s) => s.day === day) ??
    (schedule?.length && day > schedule[schedule.length - 1].day ? schedule[schedule.length - 1] : undefined);
  return { day, maxMessages: step ? step.maxMessages : null, warmedUp: !!schedule?.length && day > schedule[schedule.length - 1].day };
}
