/** Usage trends, anomalies and capacity advice (service/capacity.ts): pure, by hand-checked figures. */
import { anomalies, bounceSpikes, capacityAdvice, ipDailyCap, planAdvice, trendPerDay } from "../../service/capacity";

const days = (values: number[], start = "2026-03-01") =>
  values.map((sent, i) => ({ day: new Date(Date.parse(`${start}T00:00:00Z`) + i * 86_400_000).toISOString().slice(0, 10), sent }));
const plan = [
  { day: 1, maxMessages: 50 },
  { day: 2, maxMessages: 100 },
  { day: 3, maxMessages: 1000 },
];
const now = new Date("2026-04-10T12:00:00Z");
const o = { now, ipMonthlyUsd: 4, ceiling: 20000, maxIpsPerServer: 32 };

test("trend: messages a day gained per day, by least squares", () => {
  expect(trendPerDay(days([100, 110, 120, 130]))).toBe(10);
  expect(trendPerDay(days([5]))).toBe(0);
  expect(trendPerDay(days([300, 200, 100]))).toBe(-100);
});

test("anomalies: a day far outside the 14 before it; ordinary noise is not one", () => {
  const quiet = [1000, 1010, 990, 1005, 995, 1000, 1002, 998, 1001, 999];
  expect(anomalies(days([...quiet, 1004]))).toEqual([]);
  expect(anomalies(days([...quiet, 5000]))).toEqual([{ day: "2026-03-11", sent: 5000, expected: 1000 }]);
  expect(anomalies(days([...quiet.slice(0, 7), 0]))).toEqual([{ day: "2026-03-08", sent: 0, expected: 1000 }]);
  expect(anomalies(days([1, 1, 1, 500]))).toEqual([]);
});

test("an IP's cap today: its warm-up step by the days it sent (as GET …/ips), then the plan's last step; without a plan the ceiling", () => {
  expect(ipDailyCap({ ip: "a", server: "mx1", since: new Date("2026-04-09T08:00:00Z"), warmup: plan, sentDays: 1 }, now, 20000)).toBe(100);
  // Got months ago but it sent on one day only: day 2, not the calendar's day 100.
  expect(ipDailyCap({ ip: "a", server: "mx1", since: new Date("2026-01-01T00:00:00Z"), warmup: plan, sentDays: 1 }, now, 20000)).toBe(100);
  expect(ipDailyCap({ ip: "a", server: "mx1", since: new Date("2026-01-01T00:00:00Z"), warmup: plan, sentDays: 90 }, now, 20000)).toBe(
    1000,
  );
  expect(ipDailyCap({ ip: "a", server: "mx1", since: null, warmup: null, sentDays: 0 }, now, 20000)).toBe(20000);
});

test("bounce spikes: a day whose bounce rate is far above the IP's recent rate; a busy day with the usual rate is not one", () => {
  const base = Array.from({ length: 10 }, (_, i) => ({ sent: 1000, bounced: 10 + (i % 3) }));
  const series = (last: { sent: number; bounced: number }) =>
    [...base, last].map((d, i) => ({ day: `2026-03-${String(i + 1).padStart(2, "0")}`, ...d }));
  expect(bounceSpikes(series({ sent: 5000, bounced: 55 }))).toEqual([]);
  expect(bounceSpikes(series({ sent: 1000, bounced: 90 }))).toEqual([
    { day: "2026-03-11", sent: 1000, bounced: 90, ratePct: 9, expectedPct: 1.1 },
  ]);
  // Too few bounces to tell, and too few days before.
  expect(bounceSpikes(series({ sent: 50, bounced: 9 }))).toEqual([]);
  expect(bounceSpikes(series({ sent: 1000, bounced: 90 }).slice(5))).toEqual([]);
});

test("a server short of disk or memory: the cheapest larger plan at its billing cycle, priced, as a change_plan body", () => {
  const plans = [
    { rid: 101, name: "1GB", ram: 1, disk: 30, monthly: 4.99 },
    { rid: 102, name: "2GB", ram: 2, disk: 50, monthly: 9.99 },
    { rid: 103, name: "4GB", ram: 4, disk: 75, monthly: 18.99 },
  ];
  const server = { server: "mx1", plan: 101, billingCycle: "monthly", monthlyUsd: 4.99, disk: false, memory: false, why: [] as string[] };
  expect(planAdvice([server], plans)).toEqual([]);
  const [a] = planAdvice([{ ...server, memory: true, why: ["5% of memory available"] }], plans);
  expect(a).toMatchObject({
    toPlan: 102,
    monthlyUsd: 9.99,
    extraMonthlyUsd: 5,
    request: { kind: "change_plan", params: { server: "mx1", plan: 102 }, requester: "capacity advice" },
  });
  expect(a.why).toContain("5% of memory available");
  const [top] = planAdvice([{ ...server, plan: 103, monthlyUsd: 18.99, disk: true, why: ["/mailu is 95% used"] }], plans);
  expect(top).toMatchObject({ toPlan: null, request: null });
  expect(top.why).toContain("add a server");
});

test("under 80% of what the IPs may send: no advice", () => {
  const ips = [{ ip: "a", server: "mx1", since: new Date("2026-01-01T00:00:00Z"), warmup: plan, sentDays: 90 }];
  expect(capacityAdvice("acme", ips, [500, 799], o)).toMatchObject({ capPerDay: 1000, recentPeakPerDay: 799, usePct: 79.9, advice: null });
});

test("at 80% or more: N more IPs on the server with the fewest, priced, as a request body ready to POST", () => {
  const old = new Date("2026-01-01T00:00:00Z");
  const ips = [
    { ip: "a", server: "mx1", since: old, warmup: plan, sentDays: 90 },
    { ip: "b", server: "mx1", since: old, warmup: plan, sentDays: 90 },
    { ip: "c", server: "mx2", since: old, warmup: plan, sentDays: 90 },
  ];
  const a = capacityAdvice("acme", ips, [100, 2900], o);
  expect(a.usePct).toBe(96.7);
  // 2900 / 0.8 = 3625 wanted, 3000 held → 1 more
  expect(a.advice).toMatchObject({ moreIps: 1, monthlyUsd: 4, request: { kind: "acquire_ips", params: { server: "mx2", count: 1 } } });
  const b = capacityAdvice("acme", ips, [8000], o);
  expect(b.advice).toMatchObject({ moreIps: 7, monthlyUsd: 28 });
  // a server near its limit: the count is cut and the advice says to add a server
  const c = capacityAdvice("acme", ips.slice(0, 1), [8000], { ...o, maxIpsPerServer: 3 });
  expect(c.advice?.moreIps).toBe(2);
  expect(c.advice?.why).toContain("add a server");
  expect(capacityAdvice("acme", [], [8000], o).advice).toBeNull();
});
