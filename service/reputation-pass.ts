/**
 * Each monitoring pass scores a tenant's IPs (./reputation.ts): the blocklist verdicts of this pass,
 * bounce and complaint rates from the platform's usage reports over RATE_WINDOW_DAYS, and where its
 * warm-up stands (the days it sent); the score is kept on the IP and in its daily history.
 */
import { Pool } from "pg";
import { CheckResult } from "../scripts/lib/verify/result";
import { RATE_WINDOW_DAYS, Reputation, reputationScore } from "./reputation";
import { MonitoredIp, Verdict } from "./store/monitoring";
import { saveReputation, sentDays, usageWindow } from "./store/reputation";

const verdictOf = (r: CheckResult): Verdict => (r.status === "fail" ? "listed" : r.status === "unknown" ? "unknown" : "not listed");

/** Scores every IP of the tenant from this pass's blocklist results; returns the scores by IP. */
export async function scoreTenantIps(
  pool: Pool,
  tenant: string,
  ips: MonitoredIp[],
  results: Array<CheckResult & { ip: string }>,
): Promise<Map<string, Reputation>> {
  const usage = await usageWindow(pool, tenant, RATE_WINDOW_DAYS);
  const sent = await sentDays(pool, tenant);
  const out = new Map<string, Reputation>();
  for (const i of ips) {
    const u = usage.get(i.ip) ?? { sent: 0, bounced: 0, complained: 0 };
    const rep = reputationScore({
      blocklists: results
        .filter((r) => r.check === "blocklist" && r.ip === i.ip)
        .map((r) => ({ list: r.subject.split(" on ")[1] ?? r.subject, verdict: verdictOf(r) })),
      usage: { days: RATE_WINDOW_DAYS, ...u },
      warmup: { day: i.warmup?.length ? (sent.get(i.ip)?.days ?? 0) + 1 : null, planDays: i.warmup?.length ?? null },
    });
    await saveReputation(pool, tenant, i.ip, rep);
    out.set(i.ip, rep);
  }
  return out;
}
