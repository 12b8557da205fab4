/**
 * A tenant's IPs as its stack's outputs describe them (servers in config order, sending and
 * standby IPs with their host names, which IPs mail leaves from, the warm-up plan), and the
 * warm-up day of each (store/ips.ts keeps them for the API, the unused-IP report and monitoring).
 */
import { Tenant, billedIps } from "../providers/model/tenant";

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
  /** The day its warm-up started over (recover_ip resume), if it did. */
  warmupFrom?: string;
  /** The sending domains that leave from it (unknown without MailU installed). */
  domains?: string[];
}

interface Outputs {
  servers?: Array<{
    name?: string;
    mainIp?: string;
    sendingIps?: Array<{ ip: string; hostname: string; since?: string }>;
    standbyIps?: Array<{ ip: string; hostname: string; since?: string }>;
    outboundIps?: string[];
    routes?: { domains?: Array<{ domain: string; ip: string }>; idleIps?: string[] };
  }>;
  monthlyCostUsd?: { servers?: Array<{ ipsUsd?: number; serverUsd?: number }> };
  warmup?: Array<{ ip: string; since?: string; restartedOn?: string; schedule?: Array<{ day: number; maxMessages: number }> }>;
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
    const domains = (ip: string) =>
      s.routes?.domains ? { domains: s.routes.domains.filter((r) => r.ip === ip).map((r) => r.domain) } : {};
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
        warmupFrom: warm(x.ip)?.restartedOn,
        ...domains(x.ip),
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
        warmupFrom: warm(x.ip)?.restartedOn,
        ...domains(x.ip),
      }),
    );
  });
  return out;
}

/** A tenant's server as the service keeps it: names, main IP, plan, and what Hostwinds charges for it a month. */
export interface TenantServer {
  server: string;
  hostname: string;
  mainIp: string;
  plan: number;
  billingCycle: string;
  monthlyUsd: number;
}

/** The tenant's servers (logical name, host name, main IP, plan and price) from the outputs, in config order. */
export function tenantServersFromOutputs(t: Tenant, raw: Record<string, unknown>): TenantServer[] {
  const o = raw as Outputs;
  return (o.servers ?? []).flatMap((s, i) =>
    t.servers[i] && s.name && s.mainIp
      ? [
          {
            server: t.servers[i].name,
            hostname: s.name,
            mainIp: s.mainIp,
            plan: t.servers[i].plan,
            billingCycle: t.servers[i].billingCycle,
            monthlyUsd: o.monthlyCostUsd?.servers?.[i]?.serverUsd ?? 0,
          },
        ]
      : [],
  );
}

/**
 * The warm-up day of an IP got at `since` and that day's volume, the one implementation the API, the
 * console and capacity advice share: with `sentDays` (the days before today it sent, by the platform's
 * usage reports since its warm-up started) day N is the N-th day it sends, as the server's relay
 * counts (components/warmup-cap.ts), so an idle IP stays where it stopped.
 */
export function warmupToday(
  since: Date | string | null,
  schedule: Array<{ day: number; maxMessages: number }> | null,
  now: Date,
  sentDays: number,
) {
  if (!since) return { day: null, maxMessages: null };
  const day = sentDays + 1;
  const step =
    schedule?.find((s) => s.day === day) ??
    (schedule?.length && day > schedule[schedule.length - 1].day ? schedule[schedule.length - 1] : undefined);
  return { day, maxMessages: step ? step.maxMessages : null, warmedUp: !!schedule?.length && day > schedule[schedule.length - 1].day };
}
