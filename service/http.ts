/**
 * What every route module shares: a route is one declaration — its OpenAPI operation (method,
 * path, schemas, answers, errors) beside its handler — so the document at /openapi.json and the
 * routes that answer cannot drift apart (./openapi.ts reads the same list ./api.ts serves).
 *
 * The helpers here are the API's conventions, in one place: who may act for a tenant, the JSON
 * body, `Idempotency-Key` on every POST, path ids checked before use.
 */
import { createHash } from "crypto";
import { Context } from "hono";
import { Pool } from "pg";
import { z } from "zod";
import { ProblemCode, checked, fail } from "./problems";
import { keepAnswer, keptAnswer } from "./store/idempotency";
import * as q from "./schemas";
import type { VerificationOptions } from "./domains";

export interface Caller {
  tokenId: string;
  caller: string;
  tenants: string[] | "*";
}

export type Env = { Variables: { caller: Caller } };
export type C = Context<Env>;

export interface ApiOptions {
  /** What keeps the service from taking work now (empty = ready): the database, the queue, the toolchain. */
  notReady?: () => Promise<string[]>;
  /** Largest body accepted, in bytes (default 1 MB). */
  maxBodyBytes?: number;
  /** Requests a minute per token unless the token says otherwise (default 600). */
  ratePerMinute?: number;
  /** Where domains are verified and which zones the Cloudflare token sees (./domains.ts). */
  verification?: VerificationOptions;
  /** Opens the mailbox passwords sealed for GET /requests/{id} (../credentials.ts). */
  credentialKey?: Buffer;
  /** How long the console's fleet page keeps the scope's cost figures, in ms (default 30 s; 0: computed on every request). */
  fleetCostTtlMs?: number;
}

/** What a handler may use besides the call itself. */
export interface RouteDeps {
  pool: Pool;
  options: ApiOptions;
  /** The OpenAPI document (built from the routes, so handed in rather than imported). */
  openapi: object;
}

/** One route: its OpenAPI operation and its handler. `path` is written the OpenAPI way (`/tenants/{tenant}`). */
export interface Route {
  method: "get" | "post" | "put" | "delete";
  path: string;
  operationId: string;
  summary: string;
  /** Answers without a token (/health, /ready, /openapi.json). */
  public?: boolean;
  pathParams?: Record<string, z.ZodType>;
  query?: z.ZodObject<z.ZodRawShape>;
  body?: z.ZodType;
  ok: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  errors: ProblemCode[];
  handler: (c: C, deps: RouteDeps) => Promise<Response> | Response;
}

/** The route's path as hono matches it (`/tenants/:tenant`). */
export const honoPath = (path: string) => path.replace(/\{([a-zA-Z]+)\}/g, ":$1");

export const AUTH: ProblemCode[] = ["unauthorized", "rate_limited"];
export const BODY: ProblemCode[] = ["invalid_json", "invalid_body", "body_too_large", "unsupported_media_type"];
export const tenantParam = { tenant: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/) };
export const requestIdParam = { id: z.string().uuid() };
export const numericIdParam = { id: z.number().int().min(1) };

export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export const may = (c: Caller, tenant: string) => c.tenants === "*" || c.tenants.includes(tenant);

/** The tenants a report covers: `?tenant=` (which the token must allow) or every tenant of the token. */
export function scope(c: C, tenant: string | undefined): string[] | "*" {
  const caller = c.get("caller");
  if (tenant && !may(caller, tenant)) fail("forbidden", `this token may not act for tenant ${tenant}`);
  return tenant ? [tenant] : caller.tenants;
}

export async function jsonBody(c: C): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text);
  } catch {
    return fail("invalid_json", "the body is not JSON");
  }
}

export const idempotencyKey = (c: C): string | undefined => {
  const k = c.req.header("idempotency-key");
  if (k === undefined) return undefined;
  return checked("query", q.idempotencyKey, k);
};

/** Answers a POST once per Idempotency-Key: the same key and body replay the first answer; another body is 422. */
export async function once(c: C, pool: Pool, body: unknown, run: () => Promise<{ status: number; body: unknown }>): Promise<Response> {
  const key = idempotencyKey(c);
  const caller = c.get("caller").caller;
  const route = `${c.req.method} ${c.req.path}`;
  const sha = sha256(JSON.stringify(body));
  if (key) {
    const kept = await keptAnswer(pool, caller, key, route);
    if (kept && kept.body_sha256 !== sha) fail("idempotency_key_reused", `Idempotency-Key ${key} was used with another body`);
    if (kept) return c.json(kept.response as object, kept.status as 200);
  }
  const out = await run();
  if (key && out.status < 300) await keepAnswer(pool, caller, key, route, { body_sha256: sha, status: out.status, response: out.body });
  return c.json(out.body as object, out.status as 200);
}

export const uuidParam = (c: C, name: string) =>
  checked("params", z.object({ [name]: z.string().uuid("not a request id") }), { [name]: c.req.param(name)! })[name] as string;
export const intPath = (c: C, name: string) =>
  checked("params", z.object({ [name]: q.idParam }), { [name]: c.req.param(name)! })[name] as number;

/** A page of rows fetched with one row more than asked: the page, and the cursor of its last row if more follow. */
export function paged<R, T extends object>(rows: R[], limit: number, cursorOf: (last: R) => T): { page: R[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  return { page, nextCursor: rows.length > limit ? q.encodeCursor(cursorOf(page[page.length - 1])) : null };
}
