/**
 * The fleet's cost figures summed in Postgres (store/cost.ts's scopeFleetCost, which the
 * console's fleet page uses) against the path the cost report takes
 * (costInputs, then tenantCost for each tenant, then fleetCost), on a real Postgres: seeded
 * tenants plus the cases seeding has not (backups, IPs released this month and before, IPs not
 * yet held, unknown plans and other billing cycles, no or zero budgets, open requests, tenants
 * known only by their settings or a request), for the whole fleet and a scope.
 */
import { Pool } from "pg";
import { PrivatePostgres, startPrivatePostgres } from "../../scripts/dev/postgres";
import { seedFleet } from "../../scripts/dev/console-seed";
import { migrate, openPool } from "../../scripts/lib/postgres/index";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { costInputs, scopeFleetCost } from "../../service/store/cost";
import { fleetCost, tenantCost } from "../../service/cost";

let pg: PrivatePostgres;
let pool: Pool;

beforeAll(async () => {
  pg = await startPrivatePostgres("fleet-cost");
  pool = openPool(pg.url, 4);
  await migrate(pool);
  await seedFleet(pool, { tenants: 200, prefix: "s", days: 3 });
  // Odd prices, times and plans on a share of the seeded tenants.
  await pool.query(`update tenant_servers set plan = case when tenant like '%3' then 999 when tenant like '%4' then null else 102 end,
      billing_cycle = case when tenant like '%1' then 'annually' when tenant like '%2' then 'hourly' when tenant like '%5' then null else 'monthly' end,
      monthly_usd = 7.13 + (hashtext(tenant) & 255) / 100.0, backup_bytes = case when tenant like '%7' then 123456789012 + (hashtext(tenant) & 65535) end,
      since = case when tenant like '%6' then date_trunc('month', now()) + interval '3 days 4 hours 5.678901 seconds'
                   when tenant like '%8' then now() + interval '2 hours' else since end`);
  await pool.query(`update tenant_ips set monthly_usd = 3.33 + slot, since = case when tenant like '%9' then null else since - interval '0.000123 seconds' end,
      status = case when slot = 3 and tenant like '%0' then 'released' else status end,
      released_at = case when slot = 3 and tenant like '%0' then
        case when tenant like '%00' then date_trunc('month', now()) - interval '1 day' else now() - interval '1 hour' end end
      where tenant like 's%'`);
  await pool.query(`update tenant_ips set released_at = now() + interval '5 hours' where tenant = 's00011' and slot = 1`);
  await pool.query(`update tenant_settings set monthly_budget_usd = case when tenant like '%2' then null when tenant like '%3' then 0
      when tenant like '%4' then 25.01 else monthly_budget_usd end`);
  await pool.query(`insert into tenant_settings (tenant, monthly_budget_usd) values ('settings-only', 10)`);
  const request = (tenant: string, kind: string, params: object, status = "requested") =>
    pool.query("insert into service_requests (tenant, requester, kind, params, status) values ($1, 'test', $2, $3, $4)", [
      tenant,
      kind,
      JSON.stringify(params),
      status,
    ]);
  await request("s00015", "acquire_ips", { count: 2 });
  await request("s00016", "add_server", { plan: 103, billingCycle: "quarterly", sendingIps: 2 }, "confirmed");
  await request("s00017", "release_ip", { ip: "100.0.18.1" });
  await request("s00018", "retire_ip", { ip: "100.0.19.2" }, "releasing");
  await request("s00019", "acquire_ips", { count: 1 }, "assigned");
  await request("request-only", "add_server", { plan: 101 });
}, 300_000);

afterAll(async () => {
  await pool?.end();
  await pg?.stop();
});

const book = defaultPriceBook();
const slowPath = async (scope: string[] | "*", now: Date) =>
  fleetCost(
    (await costInputs(pool, scope, book)).map((i) => tenantCost(i, book, now)),
    now,
  );

test.each([
  ["the whole fleet", "*" as const],
  ["a scope", ["s00000", "s00003", "s00011", "s00016", "s00017", "settings-only", "request-only", "nobody"]],
  ["no tenant known", ["nobody"]],
])("%s: the figures summed in Postgres are the report's", async (_what, scope) => {
  const now = new Date();
  expect(await scopeFleetCost(pool, scope, book, now)).toEqual(await slowPath(scope, now));
});

test("every tenant on its own: the figures summed in Postgres are the report's", async () => {
  const now = new Date();
  const names = (await costInputs(pool, "*", book)).map((i) => i.tenant);
  const differ: string[] = [];
  for (const tenant of names) {
    const [fast, slow] = [await scopeFleetCost(pool, [tenant], book, now), await slowPath([tenant], now)];
    if (JSON.stringify(fast) !== JSON.stringify(slow)) differ.push(`${tenant}: ${JSON.stringify(fast)} != ${JSON.stringify(slow)}`);
  }
  expect(differ).toEqual([]);
}, 120_000);

test("the seeding covers what the comparison is about", async () => {
  const now = new Date();
  const slow = (await costInputs(pool, "*", book)).map((i) => tenantCost(i, book, now));
  const fleet = fleetCost(slow, now);
  expect(fleet.tenants).toBe(202);
  expect(fleet.openRequestsUsd).not.toBe(0);
  expect(fleet.priceListChangeUsd).not.toBe(0);
  expect(fleet.overBudget).toBeGreaterThan(0);
  expect(fleet.overBudget).toBeLessThan(202);
  expect(slow.some((t) => t.byKind.backups > 0)).toBe(true);
  expect(slow.some((t) => t.budgetPct !== null && t.budgetPct >= 100)).toBe(true);
});
