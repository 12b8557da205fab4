/**
 * The HTTP API (hono on Node's http server). Every route but /health, /ready and /openapi.json
 * needs `Authorization: Bearer <token>` (the scheme in any case, RFC 7235); a token belongs to a
 * caller and lists the tenants it may read and change ('*' = all), so a token for tenant A gets
 * 403 for tenant B's paths and 404 for B's request ids (their existence is not revealed). Tokens
 * are stored as SHA-256 hashes, can expire and be revoked, and each has a rate limit.
 *
 * Conventions (README "API"): every error is RFC 9457 problem+json with a stable `code`
 * (./problems.ts); every query parameter and body is checked, a 400 names each wrong field;
 * bodies are JSON (415 otherwise) of at most 1 MB (413, judged before reading); every POST takes
 * `Idempotency-Key`; every list is paged by an opaque `cursor` (`nextCursor` in the answer).
 * The routes call the store modules (./store/); no SQL here.
 */
import { createHash, randomBytes } from "crypto";
import { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { Pool } from "pg";
import { z } from "zod";
import { databaseProblem, inTransaction } from "../scripts/lib/postgres/index";
import { SLUG } from "../providers/model/names";
import { moveTo, publicRequest, rerun, submitOnce } from "./lifecycle";
import { OPENAPI } from "./openapi";
import { fail, problem, problemResponse, ProblemError, checked } from "./problems";
import { warmupToday } from "./tenant-ips";
import { getRequest, holdJob, listRequests, lockRequest, requestEvents, requestIps } from "./store/requests";
import { listIps, saveSettings } from "./store/ips";
import { costReport, foreignRecords, recordUsage, unusedIps } from "./store/usage";
import { findLiveToken, getToken, insertToken, listTokens, revokeToken, TokenRow } from "./store/tokens";
import { getDelivery, listUndelivered } from "./store/webhooks";
import { redeliver } from "./webhooks";
import { keepAnswer, keptAnswer } from "./store/idempotency";
import * as q from "./schemas";

export interface Caller {
  tokenId: string;
  caller: string;
  tenants: string[] | "*";
}

type Env = { Variables: { caller: Caller } };
type C = Context<Env>;

export interface ApiOptions {
  /** What keeps the service from taking work now (empty = ready): the database, the queue, the toolchain. */
  notReady?: () => Promise<string[]>;
  /** Largest body accepted, in bytes (default 1 MB). */
  maxBodyBytes?: number;
  /** Requests a minute per token unless the token says otherwise (default 600). */
  ratePerMinute?: number;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex");

/** Makes a token for a caller and its tenants; the token is shown once, only its hash is kept. */
export async function createToken(
  pool: Pool,
  caller: string,
  tenants: string[] | "*",
  o: { expiresAt?: Date; ratePerMinute?: number } = {},
): Promise<string> {
  return (await makeToken(pool, caller, tenants, o)).token;
}

async function makeToken(pool: Pool, caller: string, tenants: string[] | "*", o: { expiresAt?: Date; ratePerMinute?: number }) {
  const token = `pmt_${randomBytes(24).toString("base64url")}`;
  const row = await insertToken(pool, { sha256: hash(token), caller, tenants: tenants === "*" ? ["*"] : tenants, ...o });
  return { token, row };
}

const may = (c: Caller, tenant: string) => c.tenants === "*" || c.tenants.includes(tenant);

export const publicToken = (t: TokenRow) => ({
  id: Number(t.id),
  caller: t.caller,
  tenants: t.tenants,
  createdAt: new Date(t.created_at).toISOString(),
  expiresAt: t.expires_at ? new Date(t.expires_at).toISOString() : null,
  revokedAt: t.revoked_at ? new Date(t.revoked_at).toISOString() : null,
  ratePerMinute: t.rate_per_minute,
});

/** Every route, for the 404/405 decision and the OpenAPI test. */
export const ROUTES: Array<{ method: string; path: string }> = [];

export function serviceApi(pool: Pool, o: ApiOptions = {}): Hono<Env> {
  const app = new Hono<Env>();
  app.onError((err, c) => {
    if (err instanceof ProblemError) return problemResponse(err.problem, err.headers);
    console.error(`api: ${c.req.method} ${c.req.path}: ${err.message}`);
    return problemResponse(problem("internal", "internal error; the service's log says more"));
  });
  app.notFound((c) => {
    const allowed = ROUTES.filter((r) => pathRegex(r.path).test(c.req.path)).map((r) => r.method);
    if (allowed.length)
      return problemResponse(
        problem("method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(", ")}`),
        {
          allow: allowed.join(", "),
        },
      );
    return problemResponse(problem("not_found", `no route ${c.req.method} ${c.req.path}`));
  });
  const maxSize = o.maxBodyBytes ?? 1 << 20;
  app.use("*", bodyLimit({ maxSize, onError: () => problemResponse(problem("body_too_large", `the body is over ${maxSize} bytes`)) }));
  app.use("*", async (c, next) => {
    if (
      ["POST", "PUT", "PATCH"].includes(c.req.method) &&
      !/^application\/(?:[\w.+-]+\+)?json\s*(;|$)/i.test(c.req.header("content-type") ?? "")
    )
      fail("unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    await next();
  });
  publicRoutes(app, pool, o);
  app.use("*", authenticate(pool, o.ratePerMinute ?? 600));
  app.use("/tenants/:tenant/*", async (c, next) => {
    const tenant = c.req.param("tenant")!;
    if (!SLUG.test(tenant)) fail("invalid_query", `'${tenant}' is not a tenant id`, [{ field: "path.tenant", message: "not a tenant id" }]);
    if (!may(c.get("caller"), tenant)) fail("forbidden", `this token may not act for tenant ${tenant}`);
    await next();
  });
  requestRoutes(app, pool);
  tenantRoutes(app, pool);
  reportRoutes(app, pool);
  webhookRoutes(app, pool);
  tokenRoutes(app, pool);
  return app;
}

const pathRegex = (p: string) => new RegExp(`^${p.replace(/:[a-z]+/g, "[^/]+")}/?$`);

function register(app: Hono<Env>, method: "get" | "post" | "put" | "delete", path: string, h: (c: C) => Promise<Response> | Response) {
  if (!ROUTES.some((r) => r.method === method.toUpperCase() && r.path === path)) ROUTES.push({ method: method.toUpperCase(), path });
  app[method](path, h);
}

function publicRoutes(app: Hono<Env>, pool: Pool, o: ApiOptions) {
  register(app, "get", "/health", (c) => c.json({ ok: true }));
  register(app, "get", "/ready", async (c) => {
    const problems = o.notReady ? await o.notReady() : [await databaseProblem(pool)].filter((p): p is string => !!p);
    if (problems.length) return problemResponse(problem("not_ready", problems.join("; ")), { "retry-after": "5" });
    return c.json({ ready: true });
  });
  register(app, "get", "/openapi.json", (c) => c.json(OPENAPI));
}

function authenticate(pool: Pool, defaultRate: number) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (c: C, next: () => Promise<void>) => {
    const m = /^bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
    if (!m) fail("unauthorized", "missing bearer token (Authorization: Bearer <token>)", undefined, { "www-authenticate": "Bearer" });
    const row = await findLiveToken(pool, hash(m![1]));
    if (!row) fail("unauthorized", "unknown, expired or revoked token", undefined, { "www-authenticate": 'Bearer error="invalid_token"' });
    const rate = row!.rate_per_minute ?? defaultRate;
    const b = buckets.get(row!.id) ?? { tokens: rate, at: Date.now() };
    b.tokens = Math.min(rate, b.tokens + ((Date.now() - b.at) / 60_000) * rate);
    b.at = Date.now();
    buckets.set(row!.id, b);
    if (b.tokens < 1)
      fail("rate_limited", `this token may make ${rate} requests a minute`, undefined, {
        "retry-after": String(Math.ceil(((1 - b.tokens) * 60) / rate)),
      });
    b.tokens -= 1;
    c.set("caller", { tokenId: row!.id, caller: row!.caller, tenants: row!.tenants.includes("*") ? "*" : row!.tenants });
    await next();
  };
}

async function jsonBody(c: C): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch {
    return fail("invalid_json", "the body is not JSON");
  }
}

const idempotencyKey = (c: C): string | undefined => {
  const k = c.req.header("idempotency-key");
  if (k === undefined) return undefined;
  return checked("query", q.idempotencyKey, k);
};

/** Answers a POST once per Idempotency-Key: the same key and body replay the first answer; another body is 422. */
async function once(c: C, pool: Pool, body: unknown, run: () => Promise<{ status: number; body: unknown }>): Promise<Response> {
  const key = idempotencyKey(c);
  const caller = c.get("caller").caller;
  const route = `${c.req.method} ${c.req.path}`;
  const sha = hash(JSON.stringify(body));
  if (key) {
    const kept = await keptAnswer(pool, caller, key, route);
    if (kept && kept.body_sha256 !== sha) fail("idempotency_key_reused", `Idempotency-Key ${key} was used with another body`);
    if (kept) return c.json(kept.response as object, kept.status as 200);
  }
  const out = await run();
  if (key && out.status < 300) await keepAnswer(pool, caller, key, route, { body_sha256: sha, status: out.status, response: out.body });
  return c.json(out.body as object, out.status as 200);
}

const uuidParam = (c: C, name: string) =>
  checked("params", z.object({ [name]: z.string().uuid("not a request id") }), { [name]: c.req.param(name)! })[name] as string;
const intPath = (c: C, name: string) => checked("params", z.object({ [name]: q.idParam }), { [name]: c.req.param(name)! })[name] as number;

function requestRoutes(app: Hono<Env>, pool: Pool) {
  register(app, "post", "/tenants/:tenant/requests", async (c) => {
    const tenant = c.req.param("tenant")!;
    const raw = await jsonBody(c);
    const body = checked("body", q.submission, raw);
    const params: unknown = body.params;
    const key = idempotencyKey(c);
    const caller = c.get("caller").caller;
    const canonical = { tenant, kind: body.kind, params, requester: body.requester ?? null };
    const { row, created } = await submitOnce(pool, {
      tenant,
      requester: body.requester ?? caller,
      kind: body.kind,
      params,
      caller,
      idempotencyKey: key,
      bodySha256: hash(JSON.stringify(canonical)),
    });
    if (!created && row.body_sha256 !== hash(JSON.stringify(canonical)))
      fail("idempotency_key_reused", `Idempotency-Key ${key} was used with another body (request ${row.id})`);
    return c.json(publicRequest(row), created ? 202 : 200);
  });

  register(app, "get", "/tenants/:tenant/requests", async (c) => {
    const query = checked("query", q.page(q.requestCursor), c.req.query());
    const rows = await listRequests(pool, c.req.param("tenant")!, query.cursor, query.limit + 1);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return c.json({
      requests: page.map(publicRequest),
      nextCursor: rows.length > query.limit ? q.encodeCursor({ at: new Date(last.requested_at).toISOString(), id: last.id }) : null,
    });
  });

  register(app, "get", "/requests/:id", async (c) => {
    const id = uuidParam(c, "id");
    const row = await getRequest(pool, id);
    if (!row || !may(c.get("caller"), row.tenant)) fail("not_found", `no request ${id}`);
    const events = await requestEvents(pool, id);
    const ips = await requestIps(pool, id);
    return c.json({ ...publicRequest(row!), events: events.map((e) => ({ status: e.status, at: new Date(e.at).toISOString() })), ips });
  });

  register(app, "delete", "/requests/:id", async (c) => {
    const id = uuidParam(c, "id");
    const row = await inTransaction(pool, async (tx) => cancelIn(tx, c.get("caller"), id, await lockRequest(tx, id)));
    return c.json(publicRequest(row), 200);
  });
}

/** Cancels a request not yet purchasing and not being carried out right now (its job row is held meanwhile, so no worker takes it). */
async function cancelIn(
  tx: import("pg").PoolClient,
  caller: Caller,
  id: string,
  row: { status: string; tenant: string; commit_sha: string | null } | undefined,
) {
  if (!row || !may(caller, row.tenant)) return fail("not_found", `no request ${id}`);
  if (!["requested", "confirmed"].includes(row.status))
    return fail("not_cancellable", `request ${id} is ${row.status}; only a request not yet purchasing can be cancelled`);
  if (await holdJob(tx, id))
    return fail("not_cancellable", `request ${id} is being carried out right now; try again in a moment or release what it got`);
  const moved = await moveTo(tx, id, "cancelled", { failure_reason: `cancelled by ${caller.caller}` });
  if (!moved) return fail("not_cancellable", `request ${id} moved on meanwhile`);
  // Its commit is on the branch already: the request's job reverts it.
  if (row.commit_sha) await rerun(tx, moved);
  return moved;
}

function tenantRoutes(app: Hono<Env>, pool: Pool) {
  register(app, "get", "/tenants/:tenant/ips", async (c) => {
    const query = checked("query", q.page(q.ipCursor), c.req.query());
    const rows = await listIps(pool, c.req.param("tenant")!, query.cursor, query.limit + 1);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return c.json({
      ips: page.map((r) => ({
        ip: r.ip,
        server: r.server,
        role: r.role,
        status: r.status,
        ptr: r.ptr,
        since: r.since ? new Date(r.since).toISOString() : null,
        releasedAt: r.released_at ? new Date(r.released_at).toISOString() : null,
        monthlyUsd: Number(r.monthly_usd),
        warmup: warmupToday(r.since, r.warmup),
        lastCheck: r.last_check
          ? { at: r.last_check_at ? new Date(r.last_check_at).toISOString() : null, ...(r.last_check as object) }
          : null,
      })),
      nextCursor: rows.length > query.limit ? q.encodeCursor({ server: last.server, role: last.role, slot: last.slot, ip: last.ip }) : null,
    });
  });

  register(app, "put", "/tenants/:tenant/settings", async (c) => {
    const body = checked("body", q.settings, await jsonBody(c));
    await saveSettings(pool, c.req.param("tenant")!, body.autoEmergencySwitch);
    return c.json({ tenant: c.req.param("tenant")!, ...body });
  });
}

/** The tenants a report covers: `?tenant=` (which the token must allow) or every tenant of the token. */
function scope(c: C, tenant: string | undefined): string[] | "*" {
  const caller = c.get("caller");
  if (tenant && !may(caller, tenant)) fail("forbidden", `this token may not act for tenant ${tenant}`);
  return tenant ? [tenant] : caller.tenants;
}

function reportRoutes(app: Hono<Env>, pool: Pool) {
  register(app, "post", "/usage", async (c) => {
    const raw = await jsonBody(c);
    const body = checked("body", q.usageBatch, raw);
    const denied = [...new Set(body.records.map((r) => r.tenant))].filter((t) => !may(c.get("caller"), t));
    if (denied.length) fail("forbidden", `this token may not report for tenant ${denied.join(", ")}`);
    return once(c, pool, body, async () => {
      const recorded = await inTransaction(pool, async (tx) => {
        const foreign = await foreignRecords(tx, body.records);
        if (foreign.length)
          fail(
            "invalid_body",
            `${foreign.length >= 100 ? "100 or more" : foreign.length} record(s) name an IP that is not the tenant's; nothing was recorded`,
            foreign.map((i) => ({
              field: `body.records.${i}.ip`,
              message: `${body.records[i].ip} is not an IP of tenant ${body.records[i].tenant}`,
            })),
          );
        return recordUsage(tx, body.records);
      });
      return { status: 200, body: { recorded } };
    });
  });

  register(app, "get", "/unused", async (c) => {
    const query = checked("query", q.unusedQuery, c.req.query());
    const out = await unusedIps(pool, {
      tenants: scope(c, query.tenant),
      days: query.days,
      belowDailyAverage: query.belowDailyAverage,
      after: query.cursor,
      limit: query.limit,
    });
    const last = out.ips[out.ips.length - 1];
    return c.json({
      windowDays: out.windowDays,
      ips: out.ips,
      monthlySavingsUsd: out.monthlySavingsUsd,
      nextCursor: out.more ? q.encodeCursor({ tenant: last.tenant, ip: last.ip }) : null,
    });
  });

  register(app, "get", "/reports/cost", async (c) => {
    const query = checked("query", q.costQuery, c.req.query());
    const rows = await costReport(pool, scope(c, query.tenant), query.months, { after: query.cursor, limit: query.limit + 1 });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return c.json({
      rows: page,
      nextCursor: rows.length > query.limit ? q.encodeCursor({ tenant: last.tenant, month: last.month }) : null,
    });
  });
}

function webhookRoutes(app: Hono<Env>, pool: Pool) {
  register(app, "get", "/webhooks/undelivered", async (c) => {
    const query = checked("query", q.undeliveredQuery, c.req.query());
    const rows = await listUndelivered(pool, scope(c, query.tenant), query.cursor?.id, query.limit + 1);
    const page = rows.slice(0, query.limit);
    return c.json({
      events: page.map((r) => ({
        id: Number(r.id),
        tenant: r.tenant,
        sequence: r.seq === null ? null : Number(r.seq),
        kind: r.kind,
        createdAt: new Date(r.created_at).toISOString(),
        attempts: r.attempts,
        givenUp: !!r.given_up_at,
        lastError: r.last_error,
        body: r.body,
      })),
      nextCursor: rows.length > query.limit ? q.encodeCursor({ id: Number(page[page.length - 1].id) }) : null,
    });
  });

  register(app, "post", "/webhooks/:id/redeliver", async (c) => {
    const id = intPath(c, "id");
    const body = checked("body", z.object({}).strict(), await jsonBody(c).catch(() => ({})));
    const row = await getDelivery(pool, id);
    if (!row || !may(c.get("caller"), row.tenant)) fail("not_found", `no webhook event ${id}`);
    return once(c, pool, body, async () => {
      const out = await redeliver(pool, id);
      return out === "delivered"
        ? { status: 200, body: { id, delivered: true } }
        : { status: 202, body: { id, delivered: false, queued: true } };
    });
  });
}

function tokenRoutes(app: Hono<Env>, pool: Pool) {
  register(app, "get", "/tokens", async (c) => {
    const query = checked("query", q.page(q.idCursor), c.req.query());
    const rows = await listTokens(pool, c.get("caller").tenants, query.cursor?.id, query.limit + 1);
    const page = rows.slice(0, query.limit);
    return c.json({
      tokens: page.map(publicToken),
      nextCursor: rows.length > query.limit ? q.encodeCursor({ id: Number(page[page.length - 1].id) }) : null,
    });
  });

  register(app, "post", "/tokens", async (c) => {
    const body = checked("body", q.newToken, await jsonBody(c));
    const caller = c.get("caller");
    const tenants = body.tenants;
    if (caller.tenants !== "*" && (tenants === "*" || tenants.some((t) => !may(caller, t))))
      fail("forbidden", "a token can only be made for tenants this token may act for");
    return once(c, pool, body, async () => {
      const expiresAt = body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86_400_000) : undefined;
      const { token, row } = await makeToken(pool, body.caller, tenants, { expiresAt, ratePerMinute: body.ratePerMinute });
      return { status: 201, body: { ...publicToken(row), token } };
    });
  });

  register(app, "delete", "/tokens/:id", async (c) => {
    const id = intPath(c, "id");
    const row = await getToken(pool, id);
    const caller = c.get("caller");
    const visible = row && (caller.tenants === "*" || (!row.tenants.includes("*") && row.tenants.every((t) => may(caller, t))));
    if (!visible) fail("not_found", `no token ${id}`);
    await revokeToken(pool, id);
    return c.json(publicToken((await getToken(pool, id))!));
  });
}
