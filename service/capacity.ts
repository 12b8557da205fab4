/**
 * Usage and capacity, as pure functions over the 90 days of usage the platform reports
 * (./store/usage.ts) and the IPs' warm-up plans:
 * - per IP: the trend (messages a day gained per day, by least squares over the last 30 days) and
 *   anomalies: days far outside the IP's recent range (more than 3 standard deviations and 100
 *   messages from the mean of the 14 days before);
 * - per tenant: what its sending IPs may send today (each its warm-up cap; a warmed-up IP its
 *   plan's last step, the volume it was raised to), against its recent volume (the busiest of the
 *   last 7 days); from 80 % on, advice: N more IPs so the volume is at most 80 % of what they may
 *   send once warmed up, with their monthly cost and the request body to POST;
 * - per IP, bounce spikes: days whose bounce rate is far above the IP's recent rate;
 * - per server whose disk or memory is short by the monitor's latest check over SSH
 *   (./server-checks.ts): the next larger plan of the catalogue with its monthly cost, as a
 *   change_plan request body (an upgrade in place: mail and IPs stay).
 * An IP's warm-up day is the one the API shows (./tenant-ips.ts `warmupToday`: the days it sent).
 */
import { BillingCycle, PlanPrices, monthlyPriceUsd } from "../providers/model/pricing";
import { cents } from "./cost";
import { warmupToday } from "./tenant-ips";

export interface DaySent {
  day: string;
  sent: number;
}

/** messages a day gained per day over the last `days` days (least squares); 0 with fewer than 2 days. */
export function trendPerDay(series: DaySent[], days = 30): number {
  const s = series.slice(-days);
  if (s.length < 2) return 0;
  const xs = s.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 86_400_000);
  const mx = xs.reduce((a, b) => a + b, 0) / s.length;
  const my = s.reduce((a, d) => a + d.sent, 0) / s.length;
  const num = s.reduce((a, d, i) => a + (xs[i] - mx) * (d.sent - my), 0);
  const den = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return den ? Math.round((num / den) * 10) / 10 : 0;
}

/** Days far outside the 14 days before them (needs 7 of them): more than 3 standard deviations and 100 messages off their mean. */
export function anomalies(series: DaySent[], window = 14): Array<DaySent & { expected: number }> {
  const out: Array<DaySent & { expected: number }> = [];
  series.forEach((d, i) => {
    const before = series.slice(Math.max(0, i - window), i);
    if (before.length < 7) return;
    const mean = before.reduce((a, b) => a + b.sent, 0) / before.length;
    const sd = Math.sqrt(before.reduce((a, b) => a + (b.sent - mean) ** 2, 0) / before.length);
    if (Math.abs(d.sent - mean) > Math.max(3 * sd, 100)) out.push({ ...d, expected: Math.round(mean) });
  });
  return out;
}

export interface DayBounced {
  day: string;
  sent: number;
  bounced: number;
}

/**
 * Bounce spikes: days whose bounce rate is more than 3 standard deviations and 2 percentage points
 * above the rate of the 14 sending days before them (7 needed), with at least 10 bounces.
 */
export function bounceSpikes(series: DayBounced[], window = 14): Array<DayBounced & { ratePct: number; expectedPct: number }> {
  const out: Array<DayBounced & { ratePct: number; expectedPct: number }> = [];
  const sending = series.filter((d) => d.sent > 0);
  const pct = (d: DayBounced) => (d.bounced / d.sent) * 100;
  sending.forEach((d, i) => {
    const before = sending.slice(Math.max(0, i - window), i).map(pct);
    if (before.length < 7 || d.bounced < 10) return;
    const mean = before.reduce((a, b) => a + b, 0) / before.length;
    const sd = Math.sqrt(before.reduce((a, b) => a + (b - mean) ** 2, 0) / before.length);
    const rate = pct(d);
    if (rate - mean > Math.max(3 * sd, 2)) out.push({ ...d, ratePct: Math.round(rate * 10) / 10, expectedPct: Math.round(mean * 10) / 10 });
  });
  return out;
}

export interface CatalogPlan {
  rid: number;
  name: string;
  ram?: number;
  disk?: number;
  [cycle: string]: unknown;
}

export interface ServerShort {
  server: string;
  plan: number;
  billingCycle: string;
  monthlyUsd: number;
  /** By the server's latest check over SSH (./server-checks.ts `shortOf`). */
  disk: boolean;
  memory: boolean;
  why: string[];
}

export interface PlanAdvice {
  server: string;
  fromPlan: number;
  toPlan: number | null;
  name: string | null;
  monthlyUsd: number | null;
  extraMonthlyUsd: number | null;
  why: string;
  request: { kind: "change_plan"; params: { server: string; plan: number }; requester: string } | null;
}

/**
 * For each server short of disk or memory, the cheapest plan of the catalogue with more of what is
 * short (and no less of the rest), at the server's billing cycle; none larger: add a server.
 */
export function planAdvice(servers: ServerShort[], plans: CatalogPlan[]): PlanAdvice[] {
  return servers
    .filter((s) => s.disk || s.memory)
    .map((s) => {
      const now = plans.find((p) => p.rid === s.plan);
      const price = (p: CatalogPlan) => monthlyPriceUsd(p as unknown as PlanPrices, s.billingCycle as BillingCycle);
      const bigger = now
        ? plans
            .filter(
              (p) =>
                price(p) !== undefined &&
                (p.ram ?? 0) >= (now.ram ?? 0) &&
                (p.disk ?? 0) >= (now.disk ?? 0) &&
                (!s.memory || (p.ram ?? 0) > (now.ram ?? 0)) &&
                (!s.disk || (p.disk ?? 0) > (now.disk ?? 0)),
            )
            .sort((a, b) => price(a)! - price(b)!)[0]
        : undefined;
      const short = s.why.join(", ");
      if (!bigger)
        return {
          server: s.server,
          fromPlan: s.plan,
          toPlan: null,
          name: null,
          monthlyUsd: null,
          extraMonthlyUsd: null,
          why: `${s.server}: ${short}; no larger plan in the catalogue${now ? "" : ` (plan ${s.plan} is not in it)`}: add a server (add_server) and move domains to it`,
          request: null,
        };
      const monthly = price(bigger)!;
      return {
        server: s.server,
        fromPlan: s.plan,
        toPlan: bigger.rid,
        name: bigger.name,
        monthlyUsd: cents(monthly),
        extraMonthlyUsd: cents(monthly - s.monthlyUsd),
        why: `${s.server}: ${short}; plan ${bigger.rid} (${bigger.name}${bigger.ram ? `, ${bigger.ram} GB memory` : ""}${bigger.disk ? `, ${bigger.disk} GB disk` : ""}) upgrades it in place`,
        request: { kind: "change_plan", params: { server: s.server, plan: bigger.rid }, requester: "capacity advice" },
      };
    });
}

export interface SendingIp {
  ip: string;
  server: string;
  since: Date | null;
  warmup: Array<{ day: number; maxMessages: number }> | null;
  /** The days before today it sent since its warm-up started (store/usage.ts; as GET …/ips counts them). */
  sentDays: number;
}

/** What one IP may send today: its warm-up step, or once warmed up (or without a plan) its plan's last step (`ceiling` without one). */
export function ipDailyCap(i: SendingIp, now: Date, ceiling: number): number {
  const plan = i.warmup ?? [];
  const last = plan.length ? plan[plan.length - 1].maxMessages : ceiling;
  if (!i.since || !plan.length) return last;
  return warmupToday(i.since, plan, now, i.sentDays).maxMessages ?? last;
}

export interface CapacityAdvice {
  tenant: string;
  capPerDay: number;
  recentPeakPerDay: number;
  usePct: number | null;
  /** A larger plan for each server whose disk or memory is short (usage-view.ts adds it from the servers' checks). */
  plans?: PlanAdvice[];
  advice: null | {
    moreIps: number;
    monthlyUsd: number;
    why: string;
    request: { kind: "acquire_ips"; params: { server: string; count: number }; requester: string };
  };
}

/** The tenant's capacity and, at 80 % or more of it, the IPs to add (on its server with the fewest sending IPs). */
export function capacityAdvice(
  tenant: string,
  ips: SendingIp[],
  lastDays: number[],
  o: { now: Date; ipMonthlyUsd: number; ceiling: number; maxIpsPerServer: number },
): CapacityAdvice {
  const cap = ips.reduce((a, i) => a + ipDailyCap(i, o.now, o.ceiling), 0);
  const peak = Math.max(0, ...lastDays.slice(-7));
  const usePct = cap ? Math.round((peak / cap) * 1000) / 10 : null;
  const base = { tenant, capPerDay: cap, recentPeakPerDay: peak, usePct };
  if (!ips.length || peak === 0 || (usePct !== null && usePct < 80)) return { ...base, advice: null };
  const perIp = Math.max(1, ...ips.map((i) => i.warmup?.[i.warmup.length - 1]?.maxMessages ?? o.ceiling));
  const warmCap = ips.length * perIp;
  const more = Math.max(1, Math.ceil((peak / 0.8 - warmCap) / perIp));
  const byServer = new Map<string, number>();
  for (const i of ips) byServer.set(i.server, (byServer.get(i.server) ?? 0) + 1);
  const [server, held] = [...byServer.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0];
  const count = Math.min(more, Math.max(1, o.maxIpsPerServer - held));
  return {
    ...base,
    advice: {
      moreIps: count,
      monthlyUsd: cents(count * o.ipMonthlyUsd),
      why:
        `the busiest recent day (${peak} messages) is ${usePct}% of what the ${ips.length} sending IP(s) may send today (${cap}); ` +
        `${count} more IP(s) on ${server}, each up to ${perIp}/day once warmed up${count < more ? ` (${more} wanted; ${server} is near its IP limit: add a server)` : ""}`,
      request: { kind: "acquire_ips", params: { server, count }, requester: "capacity advice" },
    },
  };
}
