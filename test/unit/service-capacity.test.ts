/** Usage trends, anomalies and capacity advice (service/capacity.ts): pure, by hand-checked figures. */
import { anomalies, capacityAdvice, ipDailyCap, trendPerDay } from "../../service/capacity";

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

test("an IP's cap today: its warm-up step, then the plan's last step; without a plan the ceiling", () => {
  expect(ipDailyCap({ ip: "a", server: "mx1", since: new Date("2026-04-09T08:00:00Z"), warmup: plan }, now, 20000)).toBe(100);
  expect(ipDailyCap({ ip: "a", server: "mx1", since: new Date("2026-01-01T00:00:00Z"), warmup: plan }, now, 20000)).toBe(1000);
  expect(ipDailyCap({ ip: "a", server: "mx1", since: null, warmup: null }, now, 20000)).toBe(20000);
});

test("under 80% of what the IPs may send: no advice", () => {
  const ips = [{ ip: "a", server: "mx1", since: new Date("2026-01-01T00:00:00Z"), warmup: plan }];
  expect(capacityAdvice("acme", ips, [500, 799], o)).toMatchObject({ capPerDay: 1000, recentPeakPerDay: 799, usePct: 79.9, advice: null });
});

test("at 80% or more: N more IPs on the server with the fewest, priced, as a request body ready to POST", () => {
  const old = new Date("2026-01-01T00:00:00Z");
  const ips = [
    { ip: "a", server: "mx1", since: old, warmup: plan },
    { ip: "b", server: "mx1", since: old, warmup: plan },
    { ip: "c", server: "mx2", since: old, warmup: plan },
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
