/**
 * The HTTP API (hono on Node's http server). Every route but /health, /ready and /openapi.json
 * needs `Authorization: Bearer <token>` (the scheme in any case, RFC 7235); a token belongs to a
 * caller and lists the tenants it may read and change ('*' = all), so a token for tenant A gets
 * 403 for tenant B's paths and 404 for B's request ids (their existence is not revealed). Tokens
 * are stored as SHA-256 hashes, can expire and be revoked, and each has a rate limit.
 *
 * Conventions (docs/platform-integrators.md): every error is RFC 9457 problem+json with a stable
 * `code` (./problems.ts); every query parameter and body is checked, a 400 names each wrong field;
 * bodies are JSON (415 otherwise) of at most 1 MB (413, judged before reading); every POST takes
 * `Idempotency-Key`; every list is paged by an opaque `cursor` (`nextCursor` in the answer).
 * The routes themselves are declared in ./routes/ (each beside its OpenAPI operation) and call
 * the store modules (./store/); no SQL here.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { Pool } from "pg";
import { SLUG } from "../providers/model/names";
import { ApiOptions, C, Env, Route, RouteDeps, honoPath, may, sha256 } from "./http";
import { OPENAPI } from "./openapi";
import { fail, problem, problemResponse, ProblemError } from "./problems";
import { ALL_ROUTES } from "./routes/index";
import { findLiveToken } from "./store/tokens";

export type { ApiOptions, Caller } from "./http";

/** Every route as hono matches it, for the 404/405 decision and the OpenAPI test. */
export const ROUTES: Array<{ method: string; path: string }> = ALL_ROUTES.map((r) => ({
  method: r.method.toUpperCase(),
  path: honoPath(r.path),
}));

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
        { allow: allowed.join(", ") },
      );
    return problemResponse(problem("not_found", `no route ${c.req.method} ${c.req.path}`));
  });
  const maxSize = o.maxBodyBytes ?? 1 << 20;
  app.use("*", bodyLimit({ maxSize, onError: () => problemResponse(problem("body_too_large", `the body is over ${maxSize} bytes`)) }));
  app.use("*", async (c, next) => {
    // The console's forms post as browsers do (./routes/console.ts checks them itself).
    if (
      ["POST", "PUT", "PATCH"].includes(c.req.method) &&
      !c.req.path.startsWith("/console/") &&
      !/^application\/(?:[\w.+-]+\+)?json\s*(;|$)/i.test(c.req.header("content-type") ?? "")
    )
      fail("unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    await next();
  });
  const deps: RouteDeps = { pool, options: o, openapi: OPENAPI };
  const mount = (r: Route) => app[r.method](honoPath(r.path), (c) => r.handler(c, deps));
  ALL_ROUTES.filter((r) => r.public).forEach(mount);
  app.use("*", authenticate(pool, o.ratePerMinute ?? 600));
  app.use("/tenants/:tenant/*", async (c, next) => {
    const tenant = c.req.param("tenant")!;
    if (!SLUG.test(tenant)) fail("invalid_query", `'${tenant}' is not a tenant id`, [{ field: "path.tenant", message: "not a tenant id" }]);
    if (!may(c.get("caller"), tenant)) fail("forbidden", `this token may not act for tenant ${tenant}`);
    await next();
  });
  ALL_ROUTES.filter((r) => !r.public).forEach(mount);
  return app;
}

const pathRegex = (p: string) => new RegExp(`^${p.replace(/:[a-zA-Z]+/g, "[^/]+")}/?$`);

function authenticate(pool: Pool, defaultRate: number) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (c: C, next: () => Promise<void>) => {
    const m = /^bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
    if (!m) fail("unauthorized", "missing bearer token (Authorization: Bearer <token>)", undefined, { "www-authenticate": "Bearer" });
    const row = await findLiveToken(pool, sha256(m![1]));
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
