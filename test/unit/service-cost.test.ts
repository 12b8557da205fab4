/** The cost model of the report, the budget alerts and the console (service/cost.ts): pure, by hand-checked figures. */
import {
  ASSUMED_BACKUP_PRICE,
  HeldItem,
  budgetThresholdsReached,
  csvField,
  fleetCost,
  monthOf,
  nextMonthName,
  requestMonthlyUsd,
  tenantCost,
  toCsv,
} from "../../service/cost";

const book = { plans: [{ rid: 101, monthly: 10, annually: 96 }], ipMonthlyPriceUsd: 4 };
// 2026-04 has 30 days; the 16th at 00:00 UTC is exactly half way.
const now = new Date("2026-04-16T00:00:00Z");
const server: HeldItem = {
  kind: "server",
  name: "mx1",
  monthlyUsd: 10,
  listUsd: 12,
  since: new Date("2026-01-01T00:00:00Z"),
  releasedAt: null,
};
const ip = (name: string, since: string, releasedAt: string | null = null): HeldItem => ({
  kind: "ip",
  name,
  monthlyUsd: 4,
  listUsd: 4,
  since: new Date(since),
  releasedAt: releasedAt ? new Date(releasedAt) : null,
});

test("the UTC month: bounds, name and the next one (December rolls over)", () => {
  expect(monthOf(now)).toMatchObject({ name: "2026-04", ms: 30 * 86_400_000 });
  expect(nextMonthName(new Date("2026-12-31T23:59:59Z"))).toBe("2027-01");
});

test("month to date, projection and next month from what is held, prorated by time held", () => {
  const c = tenantCost(
    {
      tenant: "acme",
      budgetUsd: 20,
      items: [server, ip("192.0.2.1", "2026-02-01T00:00:00Z"), ip("192.0.2.2", "2026-04-01T00:00:00Z", "2026-04-09T12:00:00Z")],
      openRequests: [],
    },
    book,
    now,
  );
  // server 5 + ip 2 so far + the released IP's 8.5 days of 30 at $4 (1.13)
  expect(c.monthToDateUsd).toBe(8.13);
  expect(c.projectedUsd).toBe(15.13);
  expect(c.nextMonthUsd).toBe(14);
  expect(c.byKind).toEqual({ servers: 10, ips: 5.13, backups: 0 });
  expect(c.priceListChangeUsd).toBe(2);
  expect(c.budgetPct).toBe(75.7);
  expect(c.assumptions).toEqual([]);
});

test("open requests count in next month at catalogue prices; a release takes off what the IP costs", () => {
  const items = [server, ip("192.0.2.1", "2026-02-01T00:00:00Z")];
  const c = tenantCost(
    {
      tenant: "acme",
      budgetUsd: null,
      items,
      openRequests: [
        { id: "a", kind: "acquire_ips", params: { server: "mx1", count: 2 } },
        { id: "b", kind: "add_server", params: { name: "mx2", plan: 101, billingCycle: "annually", sendingIps: 1, standbyIps: 1 } },
        { id: "c", kind: "release_ip", params: { ip: "192.0.2.1" } },
        { id: "d", kind: "pause_ip", params: { ip: "192.0.2.1" } },
      ],
    },
    book,
    now,
  );
  expect(c.openRequestsUsd).toBe(8 + 16 - 4);
  expect(c.nextMonthUsd).toBe(14 + 20);
  expect(c.budgetPct).toBeNull();
  expect(requestMonthlyUsd({ id: "x", kind: "add_server", params: { plan: 999 } }, book, () => undefined)).toBe(0);
});

test("backup storage is priced at the one assumed figure and says so", () => {
  const backup: HeldItem = { kind: "backup", name: "mx1 backups", monthlyUsd: 0.5, since: server.since, releasedAt: null };
  const c = tenantCost({ tenant: "acme", budgetUsd: null, items: [backup], openRequests: [] }, book, now);
  expect(c.byKind.backups).toBe(0.5);
  expect(c.assumptions).toEqual([ASSUMED_BACKUP_PRICE]);
  expect(ASSUMED_BACKUP_PRICE).toContain("[assumed");
});

test("budget thresholds: 80 and 100 percent of the budget by the projection; none without a budget", () => {
  expect(budgetThresholdsReached(79.99, 100)).toEqual([]);
  expect(budgetThresholdsReached(80, 100)).toEqual([80]);
  expect(budgetThresholdsReached(130, 100)).toEqual([80, 100]);
  expect(budgetThresholdsReached(130, null)).toEqual([]);
  expect(budgetThresholdsReached(130, 0)).toEqual([]);
});

test("the fleet is the sum of its tenants; over budget counted", () => {
  const a = tenantCost({ tenant: "a", budgetUsd: 10, items: [server], openRequests: [] }, book, now);
  const b = tenantCost({ tenant: "b", budgetUsd: 100, items: [server], openRequests: [] }, book, now);
  expect(fleetCost([a, b], now)).toMatchObject({ tenants: 2, month: "2026-04", projectedUsd: 20, nextMonthUsd: 20, overBudget: 1 });
});

test("the fleet adds its tenants to what was summed elsewhere (the tenants without open requests, summed in Postgres)", () => {
  const a = tenantCost({ tenant: "a", budgetUsd: 10, items: [server], openRequests: [] }, book, now);
  const b = tenantCost({ tenant: "b", budgetUsd: 100, items: [server], openRequests: [] }, book, now);
  const { month: _month, ...summed } = fleetCost([a], now);
  expect(fleetCost([b], now, summed)).toEqual(fleetCost([a, b], now));
  expect(fleetCost([], now, summed)).toEqual(fleetCost([a], now));
});

test("CSV: RFC 4180 quoting, formulas neutralised", () => {
  expect(csvField('a,"b"')).toBe('"a,""b"""');
  expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
  expect(csvField(-3)).toBe("-3");
  expect(csvField(null)).toBe("");
  expect(toCsv(["x", "y"], [[1, "a\nb"]])).toBe('x,y\r\n1,"a\nb"\r\n');
});
