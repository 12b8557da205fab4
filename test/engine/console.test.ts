/// <reference lib="dom" />
/**
 * The operator console in a real browser: Debian's Chromium driven by playwright-core (no browser
 * download), against the service's API on a real Postgres. Walks fleet → tenant → incident →
 * acknowledge with the keyboard only, checks on each page that every link and button is reached
 * by Tab with a visible focus and that text meets WCAG AA contrast (4.5:1), keeps screenshots in
 * test-artifacts/console/; then a tenant's token against every console page and API route of
 * another tenant, CSRF on form posts, and pages fed quotes, script tags and huge values.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { serve } from "@hono/node-server";
import { Pool } from "pg";
import { BrowserContext, Page, chromium } from "playwright-core";
import { PrivatePostgres, startPrivatePostgres } from "../../scripts/dev/postgres";
import { seedFleet } from "../../scripts/dev/console-seed";
import { migrate, openPool } from "../../scripts/lib/postgres/index";
import { serviceApi } from "../../service/api";
import { recordAction, recordCause } from "../../service/incident-pass";
import { budgetPass } from "../../service/budget-alerts";
import { createToken } from "../../service/tokens";

const ARTIFACTS = path.join(__dirname, "../../test-artifacts/console");
const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let pg: PrivatePostgres;
let pool: Pool;
let server: ReturnType<typeof serve>;
let base: string;
let operator: string;
let betaToken: string;
let acmeIncident: number;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  pg = await startPrivatePostgres("console");
  pool = openPool(pg.url, 8);
  await migrate(pool);
  await seedFleet(pool, { tenants: 3, names: ["acme", "beta", "gamma"], days: 30 });
  // acme's certificate check fails twice: the real state machine opens an incident; a hostile summary tests escaping
  const failing = { outcome: "fail" as const, details: [`mx1:465: certificate expires in 3 days <script>alert("x")</script> & 'quotes'`] };
  await recordCause(pool, "acme", "certificate", failing);
  await recordCause(pool, "acme", "certificate", failing);
  await recordAction(pool, "acme", "certificate", "automatic action: none available, operator told");
  acmeIncident = Number((await pool.query("select id from incidents where tenant = 'acme'")).rows[0].id);
  await recordCause(pool, "beta", "smtp", { outcome: "fail", details: ["mx1:25: refused"] });
  await recordCause(pool, "beta", "smtp", { outcome: "fail", details: ["mx1:25: refused"] });
  operator = await createToken(pool, "ops", "*");
  betaToken = await createToken(pool, "beta-platform", ["beta"]);
  const app = serviceApi(pool, { ratePerMinute: 100_000 });
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "console-chromium-"));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await pool?.end();
  await pg?.stop();
});

/** Every link, button and input is reached by Tab, in order, each with a visible outline when focused. */
async function checkKeyboard(page: Page, name: string) {
  const focusable = await page.$$eval("a[href], button, input:not([type=hidden])", (els) => els.length);
  const seen: string[] = [];
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let i = 0; i < focusable + 2 && seen.length < focusable; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement | null;
      if (!e || e === document.body) return null;
      const s = getComputedStyle(e);
      return {
        tag: e.tagName,
        text: (e.textContent ?? "").trim().slice(0, 40),
        outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2,
      };
    });
    if (!f) continue;
    expect([name, f.tag, f.text, f.outline]).toEqual([name, f.tag, f.text, true]);
    seen.push(`${f.tag}:${f.text}`);
  }
  expect([name, seen.length]).toEqual([name, focusable]);
}

/** WCAG 2.x contrast of every element's own text against the nearest opaque background. */
async function checkContrast(page: Page, name: string) {
  const bad = await page.evaluate(() => {
    const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const f = (c: number) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bg = (e: Element | null): number[] => {
      for (; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const out: string[] = [];
    for (const e of Array.from(document.querySelectorAll("body *"))) {
      if (e.closest("svg") && e.tagName !== "text") continue;
      const own = Array.from(e.childNodes).some((n) => n.nodeType === 3 && (n.textContent ?? "").trim());
      if (!own) continue;
      const s = getComputedStyle(e);
      const fg = rgb(e.tagName === "text" ? s.fill : s.color).slice(0, 3);
      const [a, b] = [lum(fg), lum(bg(e))].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < 4.5) out.push(`${e.tagName} "${(e.textContent ?? "").trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
    }
    return out;
  });
  expect([name, bad]).toEqual([name, []]);
}

async function checkPage(page: Page, name: string) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  await checkContrast(page, name);
  await checkKeyboard(page, name);
}

/** Presses Tab until the focused element's text matches, then Enter. */
async function tabAndEnter(page: Page, text: RegExp) {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    const t = await page.evaluate(() => (document.activeElement?.textContent ?? "").trim());
    if (text.test(t)) {
      await Promise.all([page.waitForLoadState("load"), page.keyboard.press("Enter")]);
      return;
    }
  }
  throw new Error(`no focusable element matching ${text} on ${page.url()}`);
}

test("an operator walks fleet → tenant → incident → acknowledge with the keyboard, in Chromium", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/console`);
  expect(page.url()).toBe(`${base}/console/login`);
  await checkPage(page, "0-login");
  await page.fill("#token", operator);
  await Promise.all([page.waitForURL(`${base}/console/fleet`, { timeout: 60_000 }), page.press("#token", "Enter")]);
  await page.waitForSelector("text=Tenants");
  expect(await page.textContent("main")).toContain("acme");
  await checkPage(page, "1-fleet");

  await tabAndEnter(page, /^acme$/);
  await page.waitForURL(`${base}/console/tenants/acme`, { timeout: 60_000 });
  expect(await page.locator("svg[role=img]").count()).toBeGreaterThan(1);
  expect(await page.content()).not.toContain('<script>alert("x")');
  await checkPage(page, "2-tenant");

  await tabAndEnter(page, new RegExp(`^#${acmeIncident}$`));
  await page.waitForURL(`${base}/console/incidents/${acmeIncident}`, { timeout: 60_000 });
  expect(await page.textContent("main")).toContain(`<script>alert("x")</script>`);
  expect(await page.locator("main script").count()).toBe(0);
  await checkPage(page, "3-incident");

  await tabAndEnter(page, /^Acknowledge…$/);
  await page.waitForURL(`${base}/console/incidents/${acmeIncident}/ack`, { timeout: 60_000 });
  await checkPage(page, "4-confirm");
  await tabAndEnter(page, /^Acknowledge$/);
  await page.waitForURL(`${base}/console/incidents/${acmeIncident}`, { timeout: 60_000 });
  expect(await page.textContent("#ack")).toContain("Acknowledged by ops (console)");
  await checkPage(page, "5-acknowledged");
  const events = await pool.query("select kind from incident_events where incident_id = $1 order by id", [acmeIncident]);
  expect(events.rows.map((r) => r.kind)).toEqual(["opened", "check", "action", "acknowledged"]);
  await page.close();
});

const get = (p: string, token: string, init: RequestInit = {}) =>
  fetch(`${base}${p}`, { redirect: "manual", ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

test("a tenant's token never sees another tenant: every console page and API route", async () => {
  const csrf = await (await get("/console/fleet", betaToken)).text().then((h) => /name="csrf" value="([0-9a-f]+)"/.exec(h)![1]);
  const form = (extra = "") => ({
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `csrf=${csrf}${extra}`,
  });
  const fleet = await (await get("/console/fleet", betaToken)).text();
  expect(fleet).toContain("beta");
  expect(fleet).not.toMatch(/acme|gamma/);
  for (const [p, init] of [
    ["/console/tenants/acme", {}],
    ["/console/tenants/acme/advice", {}],
    ["/console/tenants/acme/advice", form()],
    [`/console/incidents/${acmeIncident}`, {}],
    [`/console/incidents/${acmeIncident}/ack`, {}],
    [`/console/incidents/${acmeIncident}/ack`, form()],
    ["/console/tenants/nobody", {}],
    ["/console/incidents/999999", {}],
  ] as Array<[string, RequestInit]>) {
    const r = await get(p, betaToken, init);
    const body = await r.text();
    expect([p, init.method ?? "GET", r.status]).toEqual([p, init.method ?? "GET", 404]);
    expect(body).not.toContain("certificate expires");
  }
  for (const [p, status, init] of [
    ["/incidents?tenant=acme", 403, {}],
    [`/incidents/${acmeIncident}`, 404, {}],
    [`/incidents/${acmeIncident}/ack`, 404, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }],
    ["/reports/cost?tenant=acme", 403, {}],
    ["/reports/cost?tenant=acme&format=csv", 403, {}],
    ["/reports/capacity?tenant=acme", 403, {}],
    ["/tenants/acme/usage", 403, {}],
  ] as Array<[string, number, RequestInit]>)
    expect([p, (await get(p, betaToken, init)).status]).toEqual([p, status]);
  const own = (await (await get("/incidents", betaToken)).json()) as { incidents: Array<{ tenant: string }> };
  expect(own.incidents.map((i) => i.tenant)).toEqual(["beta"]);
  const csv = await (await get("/reports/cost?format=csv", betaToken)).text();
  expect(
    csv
      .split("\r\n")
      .filter(Boolean)
      .map((l) => l.split(",")[0]),
  ).toEqual(["tenant", "beta", "*"]);
  const cost = (await (await get("/reports/cost", betaToken)).json()) as { tenants: Array<{ tenant: string }>; fleet: { tenants: number } };
  expect(cost.fleet.tenants).toBe(1);
  // the operator sees all three, with server, IP and budget figures
  const all = (await (await get("/reports/cost", operator)).json()) as { fleet: { tenants: number; projectedUsd: number } };
  expect(all.fleet.tenants).toBe(3);
  expect(all.fleet.projectedUsd).toBeGreaterThan(0);
});

test("form posts need the session's CSRF token and this site's origin", async () => {
  const betaIncident = Number((await pool.query("select id from incidents where tenant = 'beta'")).rows[0].id);
  const post = (body: string, headers: Record<string, string> = {}) =>
    get(`/console/incidents/${betaIncident}/ack`, betaToken, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body,
    });
  expect((await post("")).status).toBe(403);
  expect((await post("csrf=00000000000000000000000000000000")).status).toBe(403);
  const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(await (await get("/console/fleet", betaToken)).text())![1];
  expect((await post(`csrf=${csrf}`, { origin: "http://evil.example" })).status).toBe(403);
  expect((await pool.query("select acknowledged_at from incidents where id = $1", [betaIncident])).rows[0].acknowledged_at).toBeNull();
  const ok = await post(`csrf=${csrf}`, { origin: base });
  expect(ok.status).toBe(303);
  expect((await pool.query("select acknowledged_by from incidents where id = $1", [betaIncident])).rows[0].acknowledged_by).toBe(
    "beta-platform (console)",
  );
  // without a session: sign in first
  expect((await fetch(`${base}/console/fleet`, { redirect: "manual" })).status).toBe(303);
  expect((await fetch(`${base}/console/incidents/${betaIncident}/ack`, { method: "POST", redirect: "manual" })).status).toBe(401);
});

test("pages fed quotes, script tags and huge values answer escaped", async () => {
  for (const p of [
    `/console/fleet?after=${encodeURIComponent(`"><script>alert(1)</script>`)}`,
    `/console/fleet?x=${encodeURIComponent("'\"<>")}`,
    `/console/fleet?after=${"a".repeat(6000)}`,
    `/console/tenants/${encodeURIComponent(`"><script>alert(1)</script>`)}`,
    `/console/tenants/${"b".repeat(3000)}`,
    `/console/incidents/${encodeURIComponent("1<img src=x onerror=alert(1)>")}`,
    `/console/incidents/99999999999999999999`,
  ]) {
    const r = await get(p, operator);
    const body = await r.text();
    expect([p, r.status >= 400 && r.status < 500, r.headers.get("content-type")]).toEqual([p, true, "text/html; charset=utf-8"]);
    expect(body).not.toMatch(/<script>alert|<img src=x/);
  }
});

test("budget alerts: at 80% and 100% of the budget by the projection, each once per month and threshold", async () => {
  await pool.query("update tenant_settings set monthly_budget_usd = 20 where tenant = 'acme'");
  await pool.query("update tenant_settings set monthly_budget_usd = 30 where tenant = 'beta'");
  const first = await budgetPass(pool);
  expect(first).toEqual([
    { tenant: "acme", threshold: 80 },
    { tenant: "acme", threshold: 100 },
    { tenant: "beta", threshold: 80 },
  ]);
  expect(await budgetPass(pool)).toEqual([]);
  const { rows } = await pool.query("select tenant, body from webhook_deliveries where kind = 'budget.alert' order by id");
  expect(rows.map((r) => [r.tenant, r.body.threshold])).toEqual([
    ["acme", 80],
    ["acme", 100],
    ["beta", 80],
  ]);
  expect(rows[0].body.detail).toMatch(/tenant acme is projected to spend \$[\d.]+ in \d{4}-\d{2}, [\d.]+% of its \$20 budget/);
});

test("a server short of memory is offered a larger plan behind a confirmation; the form submits change_plan; another tenant sees none of it", async () => {
  // the server's latest check over SSH (service/server-checks.ts's shape): 3% of memory available
  const check = {
    at: new Date().toISOString(),
    held: { byTransport: {}, queue: { hold: 0, deferred: 0, active: 0, incoming: 0 } },
    transportIps: {},
    disks: [{ mount: "/", filesystem: "/dev/vda1", sizeBytes: 30e9, usedBytes: 10e9, availableBytes: 20e9 }],
    memory: { totalKb: 1_000_000, availableKb: 30_000 },
    backup: null,
  };
  await pool.query("update tenant_servers set last_check = $1, last_check_at = now() where tenant = 'acme' and server = 'mx1'", [check]);
  try {
    const page = await browser.newPage();
    await page.setExtraHTTPHeaders({ authorization: `Bearer ${operator}` });
    await page.goto(`${base}/console/tenants/acme`);
    await tabAndEnter(page, /^Upgrade mx1 to plan 102…$/);
    await page.waitForURL(`${base}/console/tenants/acme/servers/mx1/upgrade`, { timeout: 60_000 });
    expect(await page.textContent("main")).toMatch(/Upgrade server mx1 of acme to plan 102 .* in place, keeping its\s+IPs and mail/);
    await checkPage(page, "6-upgrade-confirm");
    await tabAndEnter(page, /^Upgrade mx1$/);
    // The form's answer is a new page: wait for it (tabAndEnter's load state can be the confirmation page's own).
    await page.waitForFunction(
      () => /Request [0-9a-f-]{36} is requested/.test(document.querySelector("main")?.textContent ?? ""),
      undefined,
      {
        timeout: 60_000,
      },
    );
    expect(await page.textContent("main")).toMatch(/Request [0-9a-f-]{36} is requested/);
    await page.close();
    const { rows } = await pool.query("select kind, params from service_requests where tenant = 'acme' and kind = 'change_plan'");
    expect(rows).toEqual([{ kind: "change_plan", params: { server: "mx1", plan: 102 } }]);

    const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(await (await get("/console/fleet", betaToken)).text())![1];
    const form = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `csrf=${csrf}` };
    for (const init of [{}, form] as RequestInit[])
      expect((await get("/console/tenants/acme/servers/mx1/upgrade", betaToken, init)).status).toBe(404);
    expect(await (await get("/console/tenants/acme", operator)).text()).toContain("/console/tenants/acme/servers/mx1/upgrade");
    expect((await get("/console/tenants/acme/servers/mx2/upgrade", operator)).status).toBe(404);
    expect((await get(`/console/tenants/acme/servers/${encodeURIComponent("<b>")}/upgrade`, operator)).status).toBe(404);
  } finally {
    await pool.query("update tenant_servers set last_check = null where tenant = 'acme'");
  }
});
