/**
 * API budgets per credential against stand-ins that enforce the providers' limits: Cloudflare's
 * documented one (scaled down here: N requests per window, then every call blocked), Hostwinds'
 * [assumed] one. Without a budget, going over shows up as refusals; with one, none.
 */
import { CloudflareClient } from "../../providers/cloudflare/client";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { InProcessBudget, budgetLimitFrom, credentialId, useBudgetStore } from "../../providers/lib/budget";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";

const TOKEN = "cf-budget-token-0123456789";
const KEY = "hw-budget-key-0123456789";

describe("API budgets", () => {
  let cf: CloudflareSim;
  let hw: HostwindsSim;
  beforeAll(async () => {
    // Cloudflare's rule (1,200 / 5 min, then blocked 5 min) scaled to 20 / 2 s, blocked 1.5 s.
    cf = await new CloudflareSim({ tokens: { [TOKEN]: ["*"] }, rateLimit: 20, rateWindowMs: 2000, blockMs: 1500 }).start();
    cf.addZone("acme-mail.com");
    hw = await new HostwindsSim({ apiKeys: [KEY], rateLimit: { requests: 10, windowMs: 1000 } }).start();
  });
  afterAll(async () => {
    await cf.stop();
    await hw.stop();
  });

  test("over Cloudflare's limit without a budget: refused with 429 and blocked for the whole block time", async () => {
    const c = new CloudflareClient({ apiToken: TOKEN, baseUrl: cf.url, budget: null, maxAttempts: 1 });
    const zone = await c.zoneId("acme-mail.com");
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 30 }, () => c.list(zone, {})));
    expect(cf.refused.get(TOKEN)).toBeGreaterThan(0); // the client waited out the block (Retry-After) and got through
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    await new Promise((r) => setTimeout(r, 2100)); // let the window pass for the next test
  });

  test("with the token's budget the same burst, from two clients of the token, is never refused", async () => {
    cf.refused.clear();
    const store = new InProcessBudget();
    useBudgetStore(store);
    const budget = { capacity: 4, perSecond: 7 }; // at most 4 + 7 × 2 = 18 in any 2 s window
    const a = new CloudflareClient({ apiToken: TOKEN, baseUrl: cf.url, budget });
    const b = new CloudflareClient({ apiToken: TOKEN, baseUrl: cf.url, budget });
    const zone = await a.zoneId("acme-mail.com");
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).list(zone, {})));
    expect(cf.refused.get(TOKEN) ?? 0).toBe(0);
    expect(store.taken.get(credentialId("cloudflare", TOKEN))).toBe(31);
  });

  test("Hostwinds' assumed limit: refusals without a budget, none with one", async () => {
    const none = new HostwindsClient({ apiKey: KEY, apiUrl: hw.url, requestsPerSecond: 0, budget: null });
    await Promise.all(Array.from({ length: 15 }, () => none.listInstances()));
    expect(hw.refused.get(KEY)).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1100));
    hw.refused.clear();
    useBudgetStore(new InProcessBudget());
    const budgeted = new HostwindsClient({ apiKey: KEY, apiUrl: hw.url, requestsPerSecond: 0, budget: { capacity: 3, perSecond: 6 } });
    await Promise.all(Array.from({ length: 15 }, () => budgeted.listInstances()));
    expect(hw.refused.get(KEY) ?? 0).toBe(0);
  });

  test("budget settings from the environment: capacity,perSecond, off, or a clear error", () => {
    expect(budgetLimitFrom("CLOUDFLARE_BUDGET", "50,3.5", undefined)).toEqual({ capacity: 50, perSecond: 3.5 });
    expect(budgetLimitFrom("CLOUDFLARE_BUDGET", "off", { capacity: 1, perSecond: 1 })).toBeUndefined();
    expect(budgetLimitFrom("CLOUDFLARE_BUDGET", undefined, { capacity: 1, perSecond: 1 })).toEqual({ capacity: 1, perSecond: 1 });
    expect(() => budgetLimitFrom("CLOUDFLARE_BUDGET", "fast", undefined)).toThrow(/CLOUDFLARE_BUDGET=fast: give "capacity,perSecond"/);
    expect(credentialId("cloudflare", TOKEN)).not.toContain(TOKEN);
  });
});
