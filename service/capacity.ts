/**
 * Usage and capacity, as pure functions over the 90 days of usage the platform reports
 * (./store/usage.ts) and the IPs' warm-up plans:
 * - per IP: the trend (messages a day gained per day, by least squares over the last 30 days) and
 *   anomalies: days far outside the IP's recent range (more than 3 standard deviations and 100
 *   messages from the mean of the 14 days before);
 * - per tenant: what its sending IPs may send today (each its warm-up cap; a warmed-up IP its
 *   plan's last step, the volume it was raised to), against its recent volume (the busiest of the
 *   last 7 days); from 80 % on, advice: N more IPs so the volume is at most 80 % of what they may
 *   send once warmed up, with their monthly cost and the request body to POST.
 */
import { warmupDay } from "../providers/model/warmup";
import { cents } from "./cost";

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

export interface SendingIp {
  ip: string;
  server: string;
  since: Date | null;
  warmup: Array<{ day: number; maxMessages: number }> | null;
}

/** What one IP may send today: its warm-up step, or once warmed up (or without a plan) its plan's last step (`ceiling` without one). */
export function ipDailyCap(i: SendingIp, now: Date, ceiling: number): number {
  const plan = i.warmup ?? [];
  const last = plan.length ? plan[plan.length - 1].maxMessages : ceiling;
  if (!i.since || !plan.length) return last;
  return plan.find((s) => s.day === warmupDay(i.since!, now))?.maxMessages ?? last;
}

export interface CapacityAdvice {
  tenant: string;
  capPerDay: number;
  recentPeakPerDay: number;
  usePct: number | null;
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
