/**
 * The operator console: HTML pages from the service itself, with the API's tokens. A token comes
 * from the sign-in form (kept in an HttpOnly, SameSite=Strict cookie on /console) or an
 * `Authorization: Bearer` header; an operator token ('*') sees every tenant, a tenant's token
 * only its own (another tenant's page, incident or action is a 404, as if it did not exist).
 * Every form post carries a CSRF token derived from the session's token (HMAC), and a POST whose
 * Origin is another site is refused. Pages: fleet → tenant → incident → acknowledge (behind a
 * confirmation); the capacity advice's requests (more IPs, a server's larger plan), also behind a confirmation.
 */
import { createHmac, timingSafeEqual } from "crypto";
import { z } from "zod";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { warmupToday } from "../tenant-ips";
import { sentDays } from "../store/reputation";
import { serverChecks } from "../store/monitoring";
import { resourceLine } from "../server-checks";
import { FleetTenantRow, fleetTenants, fleetTotals, tenantKnown, tenantServerRows } from "../store/console";
import { costInputs, scopeFleetCost } from "../store/cost";
import { listIps } from "../store/ips";
import { listIncidents } from "../store/incidents";
import { costReport } from "../store/usage";
import { findLiveToken } from "../store/tokens";
import { FleetCost, TenantCost, monthOf, tenantCost } from "../cost";
import { C, Caller, Route, RouteDeps, may, sha256 } from "../http";
import { acknowledgeFor, incidentFor, publicIncident } from "../incident-view";
import { submitOnce } from "../lifecycle";
import type { RequestKind } from "../requests";
import { tenantUsage } from "../usage-view";
import { SLUG } from "../../providers/model/names";
import { html } from "../console/html";
import { Session, confirmPage, errorPage, fleetPage, incidentPage, loginPage, tenantPage } from "../console/pages";

const COOKIE = "pm_console";
const PAGE = 100;
const HTML = "text/html; charset=utf-8";

class PageError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const csrfOf = (token: string) => createHmac("sha256", token).update("penguinmails console csrf").digest("hex").slice(0, 32);

function tokenOf(c: C): string | undefined {
  const m = /^bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
  if (m) return m[1];
  const cookie = (c.req.header("cookie") ?? "").split(/;\s*/).find((x) => x.startsWith(`${COOKIE}=`));
  return cookie ? decodeURIComponent(cookie.slice(COOKIE.length + 1)) : undefined;
}

async function callerOf(c: C, deps: RouteDeps): Promise<{ caller: Caller; session: Session; token: string } | undefined> {
  const token = tokenOf(c);
  if (!token || token.length > 200) return undefined;
  const row = await findLiveToken(deps.pool, sha256(token));
  if (!row) return undefined;
  const caller: Caller = { tokenId: row.id, caller: row.caller, tenants: row.tenants.includes("*") ? "*" : row.tenants };
  return { caller, session: { caller: row.caller, csrf: csrfOf(token) }, token };
}

const headers = {
  "content-type": HTML,
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
};
const send = (c: C, body: string, status = 200) => c.body(body, status as 200, headers);

/** A page behind a session: none → the sign-in page; a PageError → an HTML error page; anything else → 500 page. */
const withSession =
  (render: (c: C, deps: RouteDeps, s: { caller: Caller; session: Session; token: string }) => Promise<Response>) =>
  async (c: C, deps: RouteDeps): Promise<Response> => {
    const s = await callerOf(c, deps);
    if (!s) return c.req.method === "GET" ? c.redirect("/console/login", 303) : send(c, errorPage(401, "sign in first"), 401);
    try {
      if (c.req.method === "POST") await checkPost(c, s.token);
      return await render(c, deps, s);
    } catch (e) {
      if (e instanceof PageError) return send(c, errorPage(e.status, e.message, s.session), e.status);
      console.error(`console: ${c.req.method} ${c.req.path}: ${(e as Error).message}`);
      return send(c, errorPage(500, "internal error; the service's log says more", s.session), 500);
    }
  };

async function checkPost(c: C, token: string): Promise<void> {
  const origin = c.req.header("origin");
  if (origin && origin !== "null" && new URL(c.req.url).origin !== origin) throw new PageError(403, "a form from another site");
  const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  const given = Buffer.from(String(form.csrf ?? ""));
  const want = Buffer.from(csrfOf(token));
  if (given.length !== want.length || !timingSafeEqual(given, want))
    throw new PageError(403, "the form's CSRF token is missing or wrong; reload the page");
}

const tenantOf = (c: C, caller: Caller) => {
  const t = c.req.param("tenant") ?? "";
  if (!SLUG.test(t) || t.length > 63 || !may(caller, t)) throw new PageError(404, `no tenant ${t.slice(0, 63)}`);
  return t;
};
const incidentIdOf = (c: C) => {
  const id = c.req.param("id") ?? "";
  if (!/^\d{1,12}$/.test(id)) throw new PageError(404, `no incident ${id.slice(0, 20)}`);
  return Number(id);
};

/** The capacity advice's larger plan for the path's server (`missing`: 404 to look at it, 409 when a form came too late). */
async function planAdviceOf(c: C, deps: RouteDeps, caller: Caller, missing: number) {
  const tenant = tenantOf(c, caller);
  const server = c.req.param("server") ?? "";
  const advice = SLUG.test(server)
    ? (await tenantUsage(deps.pool, tenant)).capacity.plans?.find((p) => p.server === server && p.request)
    : undefined;
  if (!advice)
    throw new PageError(missing, `no larger plan advised for server ${server.slice(0, 63)} of ${tenant} now; nothing was requested`);
  return { tenant, advice };
}

/** Submits a capacity advice's ready request for the tenant (the IP advice's or a larger plan's) and confirms it. */
async function submitAdvice(
  c: C,
  deps: RouteDeps,
  s: { caller: Caller; session: Session },
  tenant: string,
  request: { kind: RequestKind; params: unknown },
): Promise<Response> {
  const { row } = await submitOnce(deps.pool, {
    tenant,
    requester: `${s.caller.caller} (console, capacity advice)`,
    kind: request.kind,
    params: request.params,
    caller: s.caller.caller,
  });
  return send(
    c,
    confirmPage(
      "Requested",
      html`Request ${row.id} is ${row.status}; follow it with GET /requests/${row.id}.`,
      "/console/fleet",
      `/console/tenants/${encodeURIComponent(tenant)}`,
      s.session,
    ),
    202,
  );
}

const page = (path: string, summary: string): Pick<Route, "method" | "path" | "operationId" | "summary" | "public" | "errors" | "ok"> => ({
  method: "get",
  path,
  operationId: `console${path.replace(/[^a-zA-Z]+(.)?/g, (_m, ch: string | undefined) => (ch ?? "").toUpperCase())}`,
  summary: `console: ${summary} (HTML; token by cookie from /console/login or Authorization)`,
  public: true,
  errors: [],
  ok: { status: 200, description: "an HTML page", contentType: "text/html" },
});

/**
 * The scope's cost figures for the fleet page (summed in Postgres: store/cost.ts's scopeFleetCost),
 * kept `fleetCostTtlMs` (default 30 s) per scope in this process: they move by cents an hour
 * between applies. The tenants on the page and the cost report are always computed afresh.
 */
const FLEET_COST_TTL_MS = 30_000;
const fleetCosts = new Map<string, { at: number; cost: Promise<FleetCost> }>();
function scopeCost(deps: RouteDeps, tenants: string[] | "*", now: Date): Promise<FleetCost> {
  const ttl = deps.options.fleetCostTtlMs ?? FLEET_COST_TTL_MS;
  const key = tenants === "*" ? "*" : [...tenants].sort().join(",");
  const kept = fleetCosts.get(key);
  if (kept && now.getTime() - kept.at < ttl) return kept.cost;
  const cost = scopeFleetCost(deps.pool, tenants, defaultPriceBook(), now);
  if (ttl <= 0) return cost;
  cost.catch(() => fleetCosts.delete(key));
  if (fleetCosts.size > 1000) fleetCosts.clear();
  fleetCosts.set(key, { at: now.getTime(), cost });
  return cost;
}

async function fleetData(deps: RouteDeps, caller: Caller, after: string | undefined) {
  const now = new Date();
  const book = defaultPriceBook();
  const [rows, totals, cost] = await Promise.all([
    fleetTenants(deps.pool, caller.tenants, after, PAGE + 1),
    fleetTotals(deps.pool, caller.tenants),
    scopeCost(deps, caller.tenants, now),
  ]);
  const onPage = rows.slice(0, PAGE);
  const names = onPage.map((r) => r.tenant);
  const inputs = names.length ? await costInputs(deps.pool, names, book) : [];
  const byTenant = new Map(inputs.map((i) => [i.tenant, tenantCost(i, book, now)]));
  const shown: Array<FleetTenantRow & { cost?: TenantCost }> = onPage.map((r) => ({ ...r, cost: byTenant.get(r.tenant) }));
  return { totals, cost, tenants: shown, next: rows.length > PAGE ? rows[PAGE - 1].tenant : null };
}

async function tenantData(deps: RouteDeps, tenant: string) {
  const book = defaultPriceBook();
  const now = new Date();
  const [servers, ips, incidents, inputs, months, usage, sent] = await Promise.all([
    tenantServerRows(deps.pool, tenant),
    listIps(deps.pool, tenant, undefined, 500),
    listIncidents(deps.pool, [tenant], { limit: 50 }),
    costInputs(deps.pool, [tenant], book),
    costReport(deps.pool, [tenant], 6),
    tenantUsage(deps.pool, tenant, now),
    sentDays(deps.pool, tenant),
  ]);
  const checks = new Map((await serverChecks(deps.pool, tenant)).map((x) => [x.server, x.last_check]));
  const cost = inputs[0] ? tenantCost(inputs[0], book, now) : undefined;
  // Cost by month: the IPs as billed each month plus the servers held that month; this month as projected.
  const byMonth = months.map((m) => {
    const end = Date.UTC(Number(m.month.slice(0, 4)), Number(m.month.slice(5, 7)), 1);
    const serverUsd = servers.filter((s) => new Date(s.since).getTime() < end).reduce((a, s) => a + Number(s.monthly_usd), 0);
    return {
      label: m.month,
      value: m.month === monthOf(now).name && cost ? cost.projectedUsd : Math.round((m.ipCostUsd + serverUsd) * 100) / 100,
    };
  });
  return {
    tenant,
    servers: servers.map((x) => {
      const check = checks.get(x.server);
      return { ...x, resources: check ? resourceLine(check) : null };
    }),
    ips: ips
      .filter((i) => i.status === "assigned")
      .map((i) => ({
        ip: i.ip,
        server: i.server,
        role: i.role,
        ptr: i.ptr,
        verdict: ((i.last_check as { blocklist?: string } | null)?.blocklist ?? "not checked yet") as string,
        warmup: i.warmup ?? [],
        day: warmupToday(i.since, i.warmup, now, sent.get(i.ip)?.days ?? 0).day,
      })),
    incidents: incidents.map(publicIncident),
    cost,
    byMonth,
    capacity: usage.capacity,
  };
}

const afterQuery = z.object({ after: z.string().regex(SLUG).max(63).optional() }).strict();

export const CONSOLE_ROUTES: Route[] = [
  {
    ...page("/console", "the console's start: the fleet, or the sign-in page"),
    handler: async (c, deps) => c.redirect((await callerOf(c, deps)) ? "/console/fleet" : "/console/login", 303),
  },
  { ...page("/console/login", "the sign-in form"), handler: (c) => send(c, loginPage()) },
  {
    ...page("/console/login", "signs in: the token is checked and kept in a cookie"),
    method: "post",
    operationId: "consoleSignIn",
    handler: async (c, deps) => {
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const token = String(form.token ?? "").trim();
      if (!/^[\x21-\x7e]{1,200}$/.test(token) || !(await findLiveToken(deps.pool, sha256(token))))
        return send(c, loginPage("unknown, expired or revoked token"), 401);
      const secure = new URL(c.req.url).protocol === "https:" ? "; Secure" : "";
      c.header("set-cookie", `${COOKIE}=${encodeURIComponent(token)}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=28800${secure}`);
      return c.redirect("/console/fleet", 303);
    },
  },
  {
    ...page("/console/logout", "signs out (the cookie is cleared)"),
    method: "post",
    operationId: "consoleSignOut",
    handler: withSession(async (c) => {
      c.header("set-cookie", `${COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0`);
      return c.redirect("/console/login", 303);
    }),
  },
  {
    ...page("/console/fleet", "the fleet: tenants, servers, IPs by status, open incidents, the month's cost and projection"),
    handler: withSession(async (c, deps, s) => {
      const q = afterQuery.safeParse(c.req.query());
      if (!q.success) throw new PageError(400, "?after= must be a tenant id");
      return send(c, fleetPage(await fleetData(deps, s.caller, q.data.after), s.session));
    }),
  },
  {
    ...page("/console/tenants/{tenant}", "a tenant: cost by month, servers, IPs with warm-up and reputation, capacity, incidents"),
    handler: withSession(async (c, deps, s) => {
      const tenant = tenantOf(c, s.caller);
      if (!(await tenantKnown(deps.pool, tenant))) throw new PageError(404, `no tenant ${tenant}`);
      return send(c, tenantPage(await tenantData(deps, tenant), s.session));
    }),
  },
  {
    ...page("/console/tenants/{tenant}/advice", "confirms the capacity advice's request"),
    handler: withSession(async (c, deps, s) => {
      const tenant = tenantOf(c, s.caller);
      const a = (await tenantUsage(deps.pool, tenant)).capacity.advice;
      if (!a) throw new PageError(404, `no capacity advice for ${tenant} now`);
      const what = html`Request ${a.moreIps} more IP(s) on server ${a.request.params.server} for ${tenant}: about
      $${a.monthlyUsd.toFixed(2)} a month more. ${a.why}.`;
      return send(
        c,
        confirmPage(
          `Request ${a.moreIps} IP(s)`,
          what,
          `/console/tenants/${encodeURIComponent(tenant)}/advice`,
          `/console/tenants/${encodeURIComponent(tenant)}`,
          s.session,
        ),
      );
    }),
  },
  {
    ...page("/console/tenants/{tenant}/advice", "submits the capacity advice's request (CSRF-protected form)"),
    method: "post",
    operationId: "consoleSubmitAdvice",
    handler: withSession(async (c, deps, s) => {
      const tenant = tenantOf(c, s.caller);
      const a = (await tenantUsage(deps.pool, tenant)).capacity.advice;
      if (!a) throw new PageError(409, `no capacity advice for ${tenant} now; nothing was requested`);
      return submitAdvice(c, deps, s, tenant, a.request);
    }),
  },
  {
    ...page("/console/tenants/{tenant}/servers/{server}/upgrade", "confirms the capacity advice's larger plan for a server"),
    handler: withSession(async (c, deps, s) => {
      const { tenant, advice } = await planAdviceOf(c, deps, s.caller, 404);
      const what = html`Upgrade server ${advice.server} of ${tenant} to plan ${advice.toPlan} (${advice.name ?? ""}) in place, keeping its
      IPs and mail: about $${(advice.extraMonthlyUsd ?? 0).toFixed(2)} a month more. ${advice.why}.`;
      const here = `/console/tenants/${encodeURIComponent(tenant)}`;
      return send(
        c,
        confirmPage(`Upgrade ${advice.server}`, what, `${here}/servers/${encodeURIComponent(advice.server)}/upgrade`, here, s.session),
      );
    }),
  },
  {
    ...page("/console/tenants/{tenant}/servers/{server}/upgrade", "submits the larger plan's change_plan request (CSRF-protected form)"),
    method: "post",
    operationId: "consoleSubmitUpgrade",
    handler: withSession(async (c, deps, s) => {
      const { tenant, advice } = await planAdviceOf(c, deps, s.caller, 409);
      return submitAdvice(c, deps, s, tenant, advice.request!);
    }),
  },
  {
    ...page("/console/incidents/{id}", "an incident with its timeline"),
    handler: withSession(async (c, deps, s) => {
      const id = incidentIdOf(c);
      const i = await incidentFor(deps.pool, s.caller, id);
      if (!i) throw new PageError(404, `no incident ${id}`);
      return send(c, incidentPage(i, s.session));
    }),
  },
  {
    ...page("/console/incidents/{id}/ack", "confirms an acknowledgement"),
    handler: withSession(async (c, deps, s) => {
      const id = incidentIdOf(c);
      const i = await incidentFor(deps.pool, s.caller, id);
      if (!i) throw new PageError(404, `no incident ${id}`);
      const what = html`Acknowledge incident ${id} (${i.tenant}, ${i.cause}): its escalation to further channels stops, and your name goes
      on its timeline.`;
      return send(c, confirmPage("Acknowledge", what, `/console/incidents/${id}/ack`, `/console/incidents/${id}`, s.session));
    }),
  },
  {
    ...page("/console/incidents/{id}/ack", "acknowledges an incident (CSRF-protected form)"),
    method: "post",
    operationId: "consoleAcknowledge",
    handler: withSession(async (c, deps, s) => {
      const id = incidentIdOf(c);
      if (!(await acknowledgeFor(deps.pool, s.caller, id, `${s.caller.caller} (console)`))) throw new PageError(404, `no incident ${id}`);
      return c.redirect(`/console/incidents/${id}`, 303);
    }),
  },
];
