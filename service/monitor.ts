/**
 * Monitoring: every few minutes, `npm run verify`'s blocklist and SMTP checks for every tenant's
 * assigned IPs and servers. Each IP's latest result is kept on tenant_ips (the API shows it) and
 * every result in monitor_results; a change of an IP's blocklist verdict raises an `ip.alert`
 * webhook. Every IP is scored (./reputation-pass.ts). A tenant that opted in gets the emergency
 * switch (./reputation.ts `switchDecision`), judged again on every pass (not only when the verdict
 * changes): a sending IP that is listed, or whose score fell below the tenant's threshold, is paused
 * (its standby takes over) by a pause_ip request through the normal request path as soon as its
 * server has a free standby that is not listed itself; until then every pass raises an
 * incident-level `ip.alert` saying so. Opting in switches IPs listed before.
 * Each pass's results also feed the tenant's incidents, by cause (./incident-pass.ts); with
 * `domains`, each tenant's domains are verified again too (a `dns` incident while one fails): a
 * failing or pending one every pass, a verified one every `domainsEvery` passes (`domainsDue`).
 * With `servers`, each tenant server is checked over SSH (./server-pass.ts): mail held on the relay,
 * disk, memory and the newest backup's age, each its own incident cause, `unreachable` when it does
 * not answer.
 * One pass at a time across all service processes (a Postgres advisory lock).
 */
import { Pool } from "pg";
import { checkBlocklists } from "../scripts/lib/verify/dns";
import { SmtpOptions, checkSmtp } from "../scripts/lib/verify/smtp";
import { CheckResult } from "../scripts/lib/verify/result";
import { inTransaction } from "../scripts/lib/postgres/index";
import { queueWebhook, submitRequest } from "./lifecycle";
import { openPauseRequest } from "./store/requests";
import { outcomesByCause } from "./incidents";
import { recordAction, recordCause } from "./incident-pass";
import { switchSettings } from "./store/reputation";
import { scoreTenantIps } from "./reputation-pass";
import { SwitchDecision, switchDecision } from "./reputation";
import { VerificationOptions, verifyTenantDomains } from "./domains";
import { countMonitorSkips, listDomains } from "./store/domains";
import { ServerCheckOptions, checkServers } from "./server-pass";
import type { DomainVerification } from "../scripts/lib/verify/domain";
import {
  MonitoredIp,
  Verdict,
  assignedIps,
  freeStandby,
  keepResult,
  monitoredServers,
  passUnlock,
  saveLastCheck,
  tryPassLock,
} from "./store/monitoring";

export interface MonitorOptions {
  /** Resolver to ask (ip or ip:port). */
  resolver: string;
  /** DNS blocklist zones. */
  blocklists: string[];
  /** SMTP probe settings, or false to skip SMTP. */
  smtp: SmtpOptions | false;
  /** Where to reach each server's SMTP instead of its main IP (tests). */
  smtpHost?: string;
  /**
   * How to verify the tenants' domains (the service's `verification`): each pass verifies them
   * again, so DNS served differently from the stack (a record changed by hand, a lost delegation)
   * opens a `dns` incident. Absent: domains are verified only after applies and on request.
   */
  domains?: VerificationOptions;
  /** A verified domain is verified again every this many passes (default 12: an hour at 5 minutes); failing and pending ones every pass. */
  domainsEvery?: number;
  /** How to reach each server over SSH for its checks; absent: servers are not checked over SSH. */
  servers?: ServerCheckOptions;
  log?: (line: string) => void;
}

const MONITOR_LOCK = 0x6d6f6e69;

export interface MonitorPass {
  tenants: number;
  ips: number;
  alerts: number;
  switches: string[];
}

export async function monitorOnce(pool: Pool, o: MonitorOptions): Promise<MonitorPass | undefined> {
  const lock = await pool.connect();
  try {
    if (!(await tryPassLock(lock, MONITOR_LOCK))) return undefined;
    try {
      return await pass(pool, o);
    } finally {
      await passUnlock(lock, MONITOR_LOCK);
    }
  } finally {
    lock.release();
  }
}

async function pass(pool: Pool, o: MonitorOptions): Promise<MonitorPass> {
  const ips = await assignedIps(pool);
  const servers = await monitoredServers(pool);
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
    const verdicts = new Map<string, Verdict>();
    for (const i of mine) verdicts.set(i.ip, await judgeIp(pool, i, results, out));
    const scores = await scoreTenantIps(pool, tenant, mine, results);
    const cfg = await switchSettings(pool, tenant);
    for (const i of mine.filter((x) => x.role === "sending" && cfg.optedIn)) {
      const standby = await freeStandby(pool, i.tenant, i.server);
      const d = switchDecision({
        ...cfg,
        verdict: verdicts.get(i.ip)!,
        score: scores.get(i.ip)?.score ?? null,
        pauseOpen: await openPauseRequest(pool, i.tenant, i.ip),
        standby: standby ? { ip: standby, verdict: verdicts.get(standby) ?? null } : null,
      });
      if (d.action !== "none") await emergencySwitch(pool, i, d, out, o);
    }
    if (o.servers)
      results.push(
        ...(await checkServers(
          pool,
          o.servers,
          tenant,
          servers.filter((s) => s.tenant === tenant),
          o.log,
        )),
      );
    for (const r of results.filter((x) => x.check !== "blocklist")) await keepResult(pool, tenant, r.ip, r);
    const dns = o.domains ? await monitorDomains(pool, o.domains, tenant, o.domainsEvery ?? DOMAINS_EVERY) : [];
    for (const [cause, r] of outcomesByCause([...results, ...dns])) {
      const t = await recordCause(pool, tenant, cause, r);
      if (t) o.log?.(`monitor: ${tenant} ${cause}: incident ${t}`);
    }
  }
  return out;
}

export const DOMAINS_EVERY = 12;

/**
 * Which of a tenant's domains this pass verifies (pure): every one not verified (failing, pending:
 * the operator wants to know as soon as it changes), and a verified one once `every` passes.
 */
export function domainsDue(domains: Array<{ domain: string; status: string; monitor_skips?: number }>, every: number): string[] {
  return domains.filter((d) => d.status !== "verified" || (d.monitor_skips ?? 0) + 1 >= Math.max(1, every)).map((d) => d.domain);
}

/** The tenant's domains due this pass verified again (each verification kept on its own row, its move a webhook); their results feed the incident. */
async function monitorDomains(pool: Pool, o: VerificationOptions, tenant: string, every: number): Promise<CheckResult[]> {
  const rows = await listDomains(pool, tenant, undefined, 100_000);
  const due = domainsDue(rows, every);
  await countMonitorSkips(
    pool,
    tenant,
    due,
    rows.map((r) => r.domain).filter((d) => !due.includes(d)),
  );
  return due.length ? domainResults(await verifyTenantDomains(pool, o, tenant, due)) : [];
}

/** A domain's verification as a monitoring result (pure): failing fails, pending (propagation) tells nothing yet. */
export function domainResults(vs: DomainVerification[]): CheckResult[] {
  return vs.map((v) => ({
    check: "dns",
    subject: v.domain,
    status: v.status === "failing" ? "fail" : v.status === "pending" ? "unknown" : "pass",
    detail: v.hints.length
      ? v.hints.join("; ")
      : v.status === "verified"
        ? "verified: every record served as the stack publishes it"
        : `${v.status}: propagation under way`,
  }));
}

/** Keeps the IP's blocklist results and raises an alert when its verdict changed; returns the verdict. */
async function judgeIp(pool: Pool, i: MonitoredIp, results: Array<CheckResult & { ip: string }>, out: MonitorPass): Promise<Verdict> {
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
    await saveLastCheck(c, i.tenant, i.ip, check);
    for (const r of bl) await keepResult(c, i.tenant, i.ip, r);
    if (alert)
      await queueWebhook(c, "ip.alert", i.tenant, {
        event: "ip.alert",
        tenant: i.tenant,
        ip: i.ip,
        server: i.server,
        check: "blocklist",
        from: previous ?? null,
        to: verdict,
        details: check.details,
      });
  });
  if (alert) out.alerts++;
  return verdict;
}

/** A sending IP the switch decided on: paused when a standby that is not listed is free, else an incident alert (every pass). */
async function emergencySwitch(
  pool: Pool,
  i: MonitoredIp,
  d: Exclude<SwitchDecision, { action: "none" }>,
  out: MonitorPass,
  o: MonitorOptions,
) {
  const base = { event: "ip.alert", tenant: i.tenant, ip: i.ip, server: i.server, check: "emergency-switch", reason: d.reason };
  const cause = d.reason === "listed" ? "blocklist" : "reputation";
  const what = d.reason === "listed" ? "is listed" : `has a reputation ${d.reason}`;
  if (d.action === "alert") {
    await inTransaction(pool, (c) =>
      queueWebhook(c, "ip.alert", i.tenant, {
        ...base,
        level: "incident",
        detail: `${i.ip} ${what} and still sending, not switched: server ${i.server} has ${d.why}; add a standby (add_standby) and it is switched on the next pass`,
      }),
    );
    out.alerts++;
    o.log?.(`monitor: ${i.tenant} ${i.ip} ${what} and server ${i.server} has ${d.why} (incident)`);
    return;
  }
  const req = await submitRequest(pool, {
    tenant: i.tenant,
    requester: "monitor (automatic emergency switch)",
    kind: "pause_ip",
    params: { ip: i.ip },
  });
  await inTransaction(pool, (c) => queueWebhook(c, "ip.alert", i.tenant, { ...base, standby: d.standby, requestId: req.id }));
  out.switches.push(req.id);
  await recordAction(
    pool,
    i.tenant,
    cause,
    `automatic emergency switch (${d.reason}): pause_ip ${i.ip} requested (${req.id}), ${d.standby} takes over`,
  );
  o.log?.(`monitor: ${i.tenant} ${i.ip} ${what}; automatic emergency switch requested (${req.id}), ${d.standby} takes over`);
}
