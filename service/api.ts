/**
 * The HTTP API (hono on Node's http server). Every route but /health and /openapi.json needs
 * `Authorization: Bearer <token>`; a token belongs to a caller and lists the tenants it may read
 * and change ('*' = all), so a token for tenant A gets 403 for tenant B's paths and 404 for B's
 * request ids (their existence is not revealed). Tokens are stored as SHA-256 hashes.
 */
import { createHash, randomBytes } from "crypto";
import { Hono } from "hono";
import { Pool } from "pg";
import { z } from "zod";
import { getRequest, publicRequest, RequestRow, submitRequest } from "./lifecycle";
import { OPENAPI } from "./openapi";
import { REQUEST_KINDS, RequestKind, requestBodies } from "./requests";
import { warmupToday } from "./tenant-ips";
import { costReport, recordUsage, unusedIps, usageRecord } from "./usage";
import { SLUG } from "../providers/model/names";

export interface Caller {
  caller: string;
  tenants: string[] | "*";
}

const hash = (token: string) => createHash("sha256").update(token).digest("hex");

/** Makes a token for a caller and its tenants; the token is shown once, only its hash is kept. */
export async function createToken(pool: Pool, caller: string, tenants: string[] | "*"): Promise<string> {
  const token = `pmt_${randomBytes(24).toString("base64url")}`;
  await pool.query("insert into api_tokens (token_sha256, caller, tenants) values ($1, $2, $3)", [
    hash(token),
    caller,
    tenants === "*" ? ["*"] : tenants,
  ]);
  return token;
}

const may = (c: Caller, tenant: string) => c.tenants === "*" || c.tenants.includes(tenant);

const requestSubmission = z
  .object({
    kind: z.enum(REQUEST_KINDS as [RequestKind, ...RequestKind[]]),
    params: z.record(z.string(), z.unknown()).default({}),
    /** Who on the platform asked (a user, a job); the caller's name when absent. */
    requester: z.string().min(1).max(200).optional(),
  })
  .strict();

const problem = (e: z.ZodError) => e.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");

export function serviceApi(pool: Pool): Hono<{ Variables: { caller: Caller } }> {
  const app = new Hono<{ Variables: { caller: Caller } }>();

  app.onError((err, c) => {
    console.error(`api: ${c.req.method} ${c.req.path}: ${err.message}`);
    return c.json({ error: "internal error; see the service's log" }, 500);
  });
  app.get("/health", (c) => c.json({ ok: true }));
  app.get("/openapi.json", (c) => c.json(OPENAPI));

  app.use("*", async (c, next) => {
    const m = /^Bearer (\S+)$/.exec(c.req.header("authorization") ?? "");
    if (!m) return c.json({ error: "missing bearer token (Authorization: Bearer <token>)" }, 401);
    const { rows } = await pool.query<{ caller: string; tenants: string[] }>(
      "select caller, tenants from api_tokens where token_sha256 = $1",
      [hash(m[1])],
    );
    if (!rows[0]) return c.json({ error: "unknown token" }, 401);
    c.set("caller", { caller: rows[0].caller, tenants: rows[0].tenants.includes("*") ? "*" : rows[0].tenants });
    await next();
  });
  app.use("/tenants/:tenant/*", async (c, next) => {
    const tenant = c.req.param("tenant");
    if (!SLUG.test(tenant)) return c.json({ error: `'${tenant}' is not a tenant id` }, 400);
    if (!may(c.get("caller"), tenant)) return c.json({ error: `this token may not act for tenant ${tenant}` }, 403);
    await next();
  });

  app.post("/tenants/:tenant/requests", async (c) => {
    const tenant = c.req.param("tenant");
    const body = requestSubmission.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) return c.json({ error: problem(body.error) }, 400);
    const params = requestBodies[body.data.kind].safeParse(body.data.params);
    if (!params.success) return c.json({ error: `params of ${body.data.kind}: ${problem(params.error)}` }, 400);
    const row = await submitRequest(pool, {
      tenant,
      requester: body.data.requester ?? c.get("caller").caller,
      kind: body.data.kind,
      params: params.data,
    });
    return c.json(publicRequest(row), 202);
  });

  app.get("/tenants/:tenant/requests", async (c) => {
    const { rows } = await pool.query<RequestRow>("select * from service_requests where tenant = $1 order by requested_at desc limit 200", [
      c.req.param("tenant"),
    ]);
    return c.json({ requests: rows.map(publicRequest) });
  });

  app.get("/requests/:id", async (c) => {
    const id = c.req.param("id");
    const row = /^[0-9a-f-]{36}$/.test(id) ? await getRequest(pool, id) : undefined;
    if (!row || !may(c.get("caller"), row.tenant)) return c.json({ error: `no request ${id}` }, 404);
    const { rows: events } = await pool.query<{ status: string; at: Date; detail: unknown }>(
      "select status, at, detail from request_events where request_id = $1 order by id",
      [id],
    );
    const { rows: ips } = await pool.query<{ ip: string; action: string; at: Date }>(
      "select ip, action, at from request_ips where request_id = $1 order by at",
      [id],
    );
    return c.json({ ...publicRequest(row), events: events.map((e) => ({ status: e.status, at: new Date(e.at).toISOString() })), ips });
  });

  app.get("/tenants/:tenant/ips", async (c) => {
    const { rows } = await pool.query<{
      ip: string;
      server: string;
      role: string;
      status: string;
      ptr: string;
      since: Date | null;
      monthly_usd: string;
      warmup: Array<{ day: number; maxMessages: number }> | null;
      last_check: unknown;
      last_check_at: Date | null;
      released_at: Date | null;
    }>("select * from tenant_ips where tenant = $1 order by server, role, slot", [c.req.param("tenant")]);
    return c.json({
      ips: rows.map((r) => ({
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
    });
  });

  app.put("/tenants/:tenant/settings", async (c) => {
    const body = z
      .object({ autoEmergencySwitch: z.boolean() })
      .strict()
      .safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) return c.json({ error: problem(body.error) }, 400);
    await pool.query(
      "insert into tenant_settings (tenant, auto_emergency_switch) values ($1, $2) on conflict (tenant) do update set auto_emergency_switch = excluded.auto_emergency_switch",
      [c.req.param("tenant"), body.data.autoEmergencySwitch],
    );
    return c.json({ tenant: c.req.param("tenant"), ...body.data });
  });

  app.post("/usage", async (c) => {
    const body = z
      .object({ records: z.array(usageRecord).min(1).max(10_000) })
      .strict()
      .safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) return c.json({ error: problem(body.error) }, 400);
    const denied = [...new Set(body.data.records.map((r) => r.tenant))].filter((t) => !may(c.get("caller"), t));
    if (denied.length) return c.json({ error: `this token may not report for tenant ${denied.join(", ")}` }, 403);
    return c.json({ recorded: await recordUsage(pool, body.data.records) });
  });

  const scope = (c: { get(k: "caller"): Caller; req: { query(k: string): string | undefined } }): string[] | "*" | Response => {
    const want = c.req.query("tenant");
    const caller = c.get("caller");
    if (want)
      return may(caller, want)
        ? [want]
        : new Response(JSON.stringify({ error: `this token may not act for tenant ${want}` }), { status: 403 });
    return caller.tenants;
  };
  const num = (v: string | undefined) => (v === undefined || v === "" || !Number.isFinite(Number(v)) ? undefined : Number(v));

  app.get("/unused", async (c) => {
    const tenants = scope(c);
    if (tenants instanceof Response) return tenants;
    return c.json(
      await unusedIps(pool, { tenants, days: num(c.req.query("days")), belowDailyAverage: num(c.req.query("belowDailyAverage")) }),
    );
  });

  app.get("/reports/cost", async (c) => {
    const tenants = scope(c);
    if (tenants instanceof Response) return tenants;
    return c.json({ rows: await costReport(pool, tenants, num(c.req.query("months")) ?? 6) });
  });

  return app;
}
