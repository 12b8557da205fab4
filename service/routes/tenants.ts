/**
 * A customer's whole life through the API (platform-wide tokens for onboarding, listing and
 * offboarding): POST /tenants onboards (the stack config committed, the stack made on the shared
 * backend, the first `up`), GET shows a tenant as the platform needs it, DELETE offboards (final
 * backups, `destroy`, the config removed). Each is a request with the usual lifecycle.
 */
import { z } from "zod";
import { SLUG } from "../../providers/model/names";
import { Tenant, parseTenant } from "../../providers/model/tenant";
import { defaultPriceBook } from "../../providers/hostwinds/catalog";
import { inTransaction } from "../../scripts/lib/postgres/index";
import { AUTH, BODY, C, Route, idempotencyKey, jsonBody, may, paged, sha256, tenantParam } from "../http";
import { publicDomain } from "../domains";
import { getRequest, publicRequest, submitOnce } from "../lifecycle";
import { checked, fail } from "../problems";
import { RequestRejected, judgeTenant } from "../requests";
import { listDomains } from "../store/domains";
import { getTenantRow, listTenantRows, liveOnboarding, openRequestsOf, startOnboarding, tenantHoldings } from "../store/tenants";
import { declaredCost, differences } from "../tenants";
import * as q from "../schemas";
import * as v from "../views";

const platformWide = (c: C) => {
  if (c.get("caller").tenants !== "*") fail("forbidden", "only a platform-wide token (tenants '*') may onboard, list or offboard tenants");
};
const newTenant = z
  .record(z.string(), z.unknown())
  .describe("the tenant's stack config, as stacks/Pulumi.<tenant>.yaml holds it (docs/operators.md)");
const tenantCursor = z.object({ id: z.string() }).strict();
const offboardQuery = z.object({ force: z.enum(["true", "false"]).optional() }).strict();

/** The tenant's config judged as a preview judges it: every problem, naming the tenant and the key. */
function judged(body: Record<string, unknown>): Tenant {
  const id = body.id;
  if (typeof id !== "string" || !SLUG.test(id))
    fail("invalid_body", "the tenant config needs `id`: 1-32 lowercase letters, digits or dashes", [
      { field: "body.id", message: "expected a tenant id" },
    ]);
  try {
    return judgeTenant(id as string, body);
  } catch (e) {
    if (!(e instanceof RequestRejected)) throw e;
    return fail(
      "invalid_body",
      `tenant ${String(id)}: ${e.message}`,
      e.message.split("; ").map((m) => ({ field: `body.${/^tenant\.([^:]+):/.exec(m)?.[1] ?? ""}`.replace(/\.$/, ""), message: m })),
    );
  }
}

export const TENANT_ROUTES: Route[] = [
  {
    method: "post",
    path: "/tenants",
    operationId: "onboardTenant",
    summary: "onboard a tenant: its config committed, its stack made, the first up (idempotent on the tenant id)",
    body: newTenant,
    ok: {
      status: 202,
      description: "recorded and queued (200: the same tenant and config again returns its request)",
      schema: v.requestView,
    },
    errors: [...AUTH, ...BODY, "forbidden", "tenant_exists", "idempotency_key_reused"],
    handler: async (c, { pool }) => {
      platformWide(c);
      const body = checked("body", newTenant, await jsonBody(c));
      const t = judged(body);
      // Offboarded: the same id starts over.
      const live = (await getTenantRow(pool, t.id))?.status === "offboarded" ? undefined : await liveOnboarding(pool, t.id);
      if (live) {
        const diff = differences(live.params, body);
        if (diff.length)
          fail(
            "tenant_exists",
            `tenant ${t.id} exists (request ${live.id}) with another config; what differs: ${diff.join("; ")}. Change it with requests (POST /tenants/${t.id}/requests, /domains) or offboard it first`,
          );
        return c.json(publicRequest((await getRequest(pool, live.id))!), 200);
      }
      const held = await tenantHoldings(pool, t.id);
      if (held.servers.length)
        fail("tenant_exists", `tenant ${t.id} exists already (servers ${held.servers.map((s) => s.server).join(", ")}); offboard it first`);
      const caller = c.get("caller").caller;
      const { row } = await submitOnce(pool, {
        tenant: t.id,
        requester: caller,
        kind: "create_tenant",
        params: body,
        caller,
        idempotencyKey: idempotencyKey(c),
        bodySha256: sha256(JSON.stringify({ tenant: t.id, kind: "create_tenant", params: body })),
      });
      await inTransaction(pool, (tx) => startOnboarding(tx, t.id, body));
      return c.json(publicRequest(row), 202);
    },
  },
  {
    method: "get",
    path: "/tenants",
    operationId: "listTenants",
    summary: "the tenants onboarded through the API, by id (platform-wide tokens)",
    query: q.page(tenantCursor),
    ok: { status: 200, description: "a page of tenants", schema: v.tenantPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      platformWide(c);
      const query = checked("query", q.page(tenantCursor), c.req.query());
      const rows = await listTenantRows(pool, query.cursor?.id, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ id: last.id }));
      return c.json({
        tenants: page.map((r) => ({
          id: r.id,
          status: r.status,
          createdAt: new Date(r.created_at).toISOString(),
          offboardedAt: r.offboarded_at ? new Date(r.offboarded_at).toISOString() : null,
        })),
        nextCursor,
      });
    },
  },
  {
    method: "get",
    path: "/tenants/{tenant}",
    operationId: "getTenant",
    summary: "a tenant: its config, servers, IPs, domains with their status, monthly cost, open requests",
    pathParams: tenantParam,
    ok: { status: 200, description: "the tenant", schema: v.tenantView },
    errors: [...AUTH, "forbidden", "not_found"],
    handler: async (c, { pool }) => {
      const id = c.req.param("tenant")!;
      if (!may(c.get("caller"), id)) fail("forbidden", `this token may not act for tenant ${id}`);
      const row = await getTenantRow(pool, id);
      const held = await tenantHoldings(pool, id);
      const domains = await listDomains(pool, id, undefined, 10_000);
      if (!row && !held.servers.length && !domains.length) fail("not_found", `no tenant ${id} known to the service`);
      let cost: number | null;
      try {
        cost = row ? declaredCost(parseTenant(id, row.config, defaultPriceBook())) : null;
      } catch {
        cost = null;
      }
      return c.json({
        id,
        status: row?.status ?? "active",
        config: row?.config ?? null,
        servers: held.servers.map((s) => ({ server: s.server, hostname: s.hostname, mainIp: s.main_ip })),
        ips: held.ips,
        domains: domains.map(publicDomain),
        monthlyCostUsd: cost,
        openRequests: await openRequestsOf(pool, id),
        offboarding: row?.offboarding ?? null,
      });
    },
  },
  {
    method: "delete",
    path: "/tenants/{tenant}",
    operationId: "offboardTenant",
    summary: "offboard a tenant: final backups, destroy, config removed (refused with open requests unless ?force=true)",
    pathParams: tenantParam,
    query: offboardQuery,
    ok: {
      status: 202,
      description: "recorded and queued; the result names the final backups and everything released",
      schema: v.requestView,
    },
    errors: [...AUTH, "forbidden", "not_found", "tenant_busy", "invalid_query"],
    handler: async (c, { pool }) => {
      platformWide(c);
      const id = c.req.param("tenant")!;
      const force = checked("query", offboardQuery, c.req.query()).force === "true";
      const open = await openRequestsOf(pool, id);
      if (open.length && !force)
        fail(
          "tenant_busy",
          `tenant ${id} has open requests (${open.map((r) => `${r.kind} ${r.id} ${r.status}`).join(", ")}); wait for them, cancel them, or offboard with ?force=true`,
        );
      const caller = c.get("caller").caller;
      const { row } = await submitOnce(pool, {
        tenant: id,
        requester: caller,
        kind: "delete_tenant",
        params: { force },
        caller,
        idempotencyKey: idempotencyKey(c),
        bodySha256: sha256(JSON.stringify({ tenant: id, kind: "delete_tenant", force })),
      });
      return c.json(publicRequest(row), 202);
    },
  },
];
