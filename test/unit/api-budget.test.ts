/**
 * API budgets per credential against stand-ins that enforce the providers' limits: Cloudflare's
 * documented one (scaled down here: N requests per window, then every call blocked), Hostwinds'
 * [assumed] one. Without a budget, going over shows up as refusals; with one, none.
 *
 * A budget bounds when requests leave the client; a stand-in counts when they arrive, and under
 * load (client and stand-in share this process) arrivals bunch up. So each budget here stays far
 * under its limit, as the real defaults do (CLOUDFLARE_BUDGET: 1,100 of 1,200): the spare requests
 * over the budget's refill rate are how late requests may arrive and still not be refused (4 s and
 * 3 s below, where the old 2 spare requests allowed under 0.3 s). Between tests, waits are on the stand-in's own
 * window emptying, not on a guessed sleep.
 */
import { CloudflareClient } from "../../providers/cloudflare/client";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { InProcessBudget, budgetLimitFrom, credentialId, useBudgetStore } from "../../providers/lib/budget";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";

const TOKEN = "cf-budget-token-0123456789";
const KEY = "hw-budget-key-0123456789";

/** Waits until `f()` holds, checking every 50 ms, at most 60 s. */
async function until(what: string, f: () => boolean): Promise<void> {
  const end = Date.now() + 60_000;
  while (!f()) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("API budgets", () => {
  let cf: CloudflareSim;
  let hw: HostwindsSim;
  beforeAll(async () => {
    // Cloudflare's rule (1,200 / 5 min, then blocked 5 min) scaled to 20 / 2 s, blocked 1.5 s.
    cf = await new CloudflareSim({ tokens: { [TOKEN]: ["*"] }, rateLimit: 20, rateWindowMs: 2000, blockMs: 1500 }).start();
    cf.addZone("acme-mail.com");
    // A 5 s window: a burst of 15 sent at once lands inside it even when a loaded machine spreads the sends out.
    hw = await new HostwindsSim({ apiKeys: [KEY], rateLimit: { requests: 10, windowMs: 5000 } }).start();
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
    await until("Cloudflare's window to empty", () => cf.rateWindow(TOKEN) === 0); // the next test starts afresh
  });

  test("with the token's budget the same burst, from two clients of the token, is never refused", async () => {
    cf.refused.clear();
    const store = new InProcessBudget();
    useBudgetStore(store);
    // At most 2 + 3 × 2 = 8 leave in any 2 s: 12 to spare of the 20, i.e. 4 s (at 3 a second) of late arrivals.
    const budget = { capacity: 2, perSecond: 3 };
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
    await until("the Hostwinds stand-in's window to empty", () => hw.rateWindow(KEY) === 0);
    hw.refused.clear();
    useBudgetStore(new InProcessBudget());
    // At most 2 + 1 × 5 = 7 leave in any 5 s: 3 to spare of the 10, i.e. 3 s (at 1 a second) of late arrivals.
    const budgeted = new HostwindsClient({ apiKey: KEY, apiUrl: hw.url, requestsPerSecond: 0, budget: { capacity: 2, perSecond: 1 } });
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
