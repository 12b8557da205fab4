/**
 * Monitoring: every few minutes, `npm run verify`'s blocklist and SMTP checks for every tenant's
 * assigned IPs and servers. Each IP's latest result is kept on tenant_ips (the API shows it) and
 * every result in monitor_results; a change of an IP's blocklist verdict raises an `ip.alert`
 * webhook. A tenant that opted in gets the emergency switch: a newly listed sending IP is paused
 * (its standby takes over) by a pause_ip request through the normal request path.
 * One pass at a time across all service processes (a Postgres advisory lock).
 */
import { Pool } from "pg";
import { checkBlocklists } from "../scripts/lib/verify/dns";
import { SmtpOptions, checkSmtp } from "../scripts/lib/verify/smtp";
import { CheckResult } from "../scripts/lib/verify/result";
import { Queryable, inTransaction } from "../scripts/lib/postgres/index";
import { queueWebhook, submitRequest } from "./lifecycle";

export interface MonitorOptions {
  /** Resolver to ask (ip or ip:port). */
  resolver: string;
  /** DNS blocklist zones. */
  blocklists: string[];
  /** SMTP probe settings, or false to skip SMTP. */
  smtp: SmtpOptions | false;
  /** Where to reach each server's SMTP instead of its main IP (tests). */
  smtpHost?: string;
  log?: (line: string) => void;
}

const MONITOR_LOCK = 0x6d6f6e69;

type Verdict = "listed" | "not listed" | "unknown";

export interface MonitorPass {
  tenants: number;
  ips: number;
  alerts: number;
  switches: string[];
}

export async function monitorOnce(pool: Pool, o: MonitorOptions): Promise<MonitorPass | undefined> {
  const lock = await pool.connect();
  try {
    if (!(await lock.query<{ ok: boolean }>("select pg_try_advisory_lock($1) as ok", [MONITOR_LOCK])).rows[0].ok) return undefined;
    try {
      return await pass(pool, o);
    } finally {
      await lock.query("select pg_advisory_unlock($1)", [MONITOR_LOCK]);
    }
  } finally {
    lock.release();
  }
}

const keep = (c: Queryable, tenant: string, ip: string, r: CheckResult) =>
  c.query("insert into monitor_results (tenant, ip, check_name, status, detail) values ($1, $2, $3, $4, $5)", [
    tenant,
    ip,
    r.check,
    r.status,
    `${r.subject}: ${r.detail}`,
  ]);

async function pass(pool: Pool, o: MonitorOptions): Promise<MonitorPass> {
  const { rows: ips } = await pool.query<{
    tenant: string;
    ip: string;
    server: string;
    role: string;
    last_check: { blocklist?: Verdict } | null;
  }>("select tenant, ip, server, role, last_check from tenant_ips where status = 'assigned' order by tenant, ip");
  const { rows: servers } = await pool.query<{ tenant: string; server: string; hostname: string; main_ip: string }>(
    "select tenant, server, hostname, main_ip from tenant_servers order by tenant, server",
  );
  const out: MonitorPass = { tenants: new Set(ips.map((i) => i.tenant)).size, ips: ips.length, alerts: 0, switches: [] };
  const resolver = { label: `resolver ${o.resolver}`, address: o.resolver };
  for (const tenant of [...new Set(ips.map((i) => i.tenant))]) {
    const mine = ips.filter((i) => i.tenant === tenant);
    const results: Array<CheckResult & { ip: string }> = [];
    for (const r of await checkBlocklists(
      mine.map((i) => i.ip),
      o.blocklists,
      resolver,
    ))
      results.push({ ...r, ip: r.subject.split(" ")[0] });
    if (o.smtp !== false) {
      const targets = servers.filter((s) => s.tenant === tenant).map((s) => ({ hostname: s.hostname, address: o.smtpHost ?? s.main_ip }));
      for (const r of await checkSmtp(targets, o.smtp)) results.push({ ...r, ip: r.subject });
    }
    const { rows: settings } = await pool.query<{ auto_emergency_switch: boolean }>(
      "select auto_emergency_switch from tenant_settings where tenant = $1",
      [tenant],
    );
    for (const i of mine) {
      const bl = results.filter((r) => r.check === "blocklist" && r.ip === i.ip);
      const verdict: Verdict = bl.some((r) => r.status === "fail")
        ? "listed"
        : bl.some((r) => r.status === "unknown")
          ? "unknown"
          : "not listed";
      const previous = i.last_check?.blocklist;
      const check = { blocklist: verdict, details: bl.map((r) => `${r.subject}: ${r.detail}`) };
      const alert = verdict !== previous && (previous !== undefined || verdict === "listed");
      await inTransaction(pool, async (c) => {
        await c.query("update tenant_ips set last_check = $3, last_check_at = now() where tenant = $1 and ip = $2", [
          tenant,
          i.ip,
          JSON.stringify(check),
        ]);
        for (const r of bl) await keep(c, tenant, i.ip, r);
        if (alert)
          await queueWebhook(c, "ip.alert", tenant, {
            event: "ip.alert",
            tenant,
            ip: i.ip,
            server: i.server,
            check: "blocklist",
            from: previous ?? null,
            to: verdict,
            details: check.details,
          });
      });
      if (alert) out.alerts++;
      if (alert && verdict === "listed" && i.role === "sending" && settings[0]?.auto_emergency_switch) {
        const open = await pool.query(
          "select 1 from service_requests where tenant = $1 and kind = 'pause_ip' and params->>'ip' = $2 and status not in ('assigned', 'released', 'rejected', 'failed')",
          [tenant, i.ip],
        );
        if (!open.rowCount) {
          const req = await submitRequest(pool, {
            tenant,
            requester: "monitor (automatic emergency switch)",
            kind: "pause_ip",
            params: { ip: i.ip },
          });
          await inTransaction(pool, (c) =>
            queueWebhook(c, "ip.alert", tenant, {
              event: "ip.alert",
              tenant,
              ip: i.ip,
              server: i.server,
              check: "emergency-switch",
              requestId: req.id,
            }),
          );
          out.switches.push(req.id);
          o.log?.(`monitor: ${tenant} ${i.ip} is listed; automatic emergency switch requested (${req.id})`);
        }
      }
    }
    for (const r of results.filter((x) => x.check !== "blocklist")) await keep(pool, tenant, r.ip, r);
  }
  return out;
}
