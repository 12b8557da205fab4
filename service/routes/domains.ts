/**
 * A tenant's sending domains: each in its own Cloudflare zone, with its verification status as the
 * platform shows it to its customer ("Re-verify DNS" is POST …/verify). Adding and removing one is
 * a request with the same lifecycle as the others (./requests.ts); what can be refused without the
 * engine is refused here, before any commit: a name that is not a registrable domain, one used by
 * another tenant, one no zone of the Cloudflare token holds.
 */
import { z } from "zod";
import { HOSTNAME } from "../../providers/model/names";
import { zoneOfDomain } from "../../providers/model/zones";
import { AUTH, BODY, C, Route, RouteDeps, jsonBody, paged, tenantParam } from "../http";
import { publicDomain, registrableProblem, verifyTenantDomains, visibleZones } from "../domains";
import { submitRequest } from "./submit";
import { checked, fail } from "../problems";
import { requestBodies } from "../requests";
import { domainOwner, getDomain, listDomains, pendingDomainOwner } from "../store/domains";
import * as q from "../schemas";
import * as v from "../views";

const domainParam = { domain: z.string().regex(HOSTNAME, "not a domain name") };
const domainCursor = z.object({ domain: z.string() }).strict();
const newDomain = requestBodies.add_domain.extend({ requester: q.oneLineText.optional() }).strict();

const pathDomain = (c: C) => checked("params", z.object(domainParam), { domain: c.req.param("domain")! }).domain;

/** The refusals that need no engine, in the order a caller fixes them; each names the tenant, the field and what to do. */
async function refuseDomain(deps: RouteDeps, tenant: string, name: string, zone: string | undefined): Promise<void> {
  const bad = registrableProblem(name);
  if (bad) fail("not_registrable", `tenant ${tenant}: name: ${bad}`, [{ field: "body.name", message: bad }]);
  const owner = (await domainOwner(deps.pool, name)) ?? (await pendingDomainOwner(deps.pool, name, tenant));
  if (owner && owner !== tenant)
    fail("domain_in_use", `tenant ${tenant}: name: ${name} is a sending domain of another tenant; a domain sends for one tenant only`, [
      { field: "body.name", message: "used by another tenant" },
    ]);
  const visible = await visibleZones(deps.options.verification ?? {});
  if (!visible) return;
  const found = zone ? (visible.includes(zone) ? zone : undefined) : zoneOfDomain(name, visible);
  if (!found)
    fail(
      "zone_not_on_account",
      `tenant ${tenant}: ${zone ? `zone: ${zone} is not` : `name: no zone holding ${name} is`} on the Cloudflare account the service uses; add the zone in Cloudflare (and give the service's token access to it), then try again`,
      [{ field: zone ? "body.zone" : "body.name", message: "no such zone for the token" }],
    );
}

export const DOMAIN_ROUTES: Route[] = [
  {
    method: "get",
    path: "/tenants/{tenant}/domains",
    operationId: "listDomains",
    summary: "the tenant's sending domains: zone, verification status, each record expected vs served, hints",
    pathParams: tenantParam,
    query: q.page(domainCursor),
    ok: { status: 200, description: "a page of domains", schema: v.domainPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.page(domainCursor), c.req.query());
      const rows = await listDomains(pool, c.req.param("tenant")!, query.cursor?.domain, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ domain: last.domain }));
      return c.json({ domains: page.map(publicDomain), nextCursor });
    },
  },
  {
    method: "get",
    path: "/tenants/{tenant}/domains/{domain}",
    operationId: "getDomain",
    summary: "one sending domain and its last verification",
    pathParams: { ...tenantParam, ...domainParam },
    ok: { status: 200, description: "the domain", schema: v.domainView },
    errors: [...AUTH, "forbidden", "not_found", "invalid_body"],
    handler: async (c, { pool }) => {
      const tenant = c.req.param("tenant")!;
      const row = await getDomain(pool, tenant, pathDomain(c));
      if (!row) fail("not_found", `tenant ${tenant} has no domain ${c.req.param("domain")} (GET /tenants/${tenant}/domains lists them)`);
      return c.json(publicDomain(row!));
    },
  },
  {
    method: "post",
    path: "/tenants/{tenant}/domains",
    operationId: "addDomain",
    summary: "add a sending domain in its own zone (a request: its records published, the relay told, then verified)",
    pathParams: tenantParam,
    body: newDomain,
    ok: {
      status: 202,
      description: "recorded and queued (200 with the same request for a repeated Idempotency-Key)",
      schema: v.requestView,
    },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused", "not_registrable", "domain_in_use", "zone_not_on_account"],
    handler: async (c, deps) => {
      const tenant = c.req.param("tenant")!;
      const { requester, ...params } = checked("body", newDomain, await jsonBody(c));
      await refuseDomain(deps, tenant, params.name, params.zone);
      return submitRequest(c, deps, "add_domain", params, requester);
    },
  },
  {
    method: "delete",
    path: "/tenants/{tenant}/domains/{domain}",
    operationId: "removeDomain",
    summary: "remove a sending domain (a request: its records deleted, the relay told; nothing else of the tenant replaced)",
    pathParams: { ...tenantParam, ...domainParam },
    ok: { status: 202, description: "recorded and queued", schema: v.requestView },
    errors: [...AUTH, "forbidden", "not_found", "invalid_body", "idempotency_key_reused"],
    handler: async (c, deps) => {
      const tenant = c.req.param("tenant")!;
      const domain = pathDomain(c);
      if (!(await getDomain(deps.pool, tenant, domain)))
        fail("not_found", `tenant ${tenant} has no domain ${domain} (GET /tenants/${tenant}/domains lists them)`);
      return submitRequest(c, deps, "remove_domain", { domain });
    },
  },
  {
    method: "post",
    path: "/tenants/{tenant}/domains/{domain}/verify",
    operationId: "verifyDomain",
    summary: "verify the domain's DNS now (the customer's “Re-verify DNS”): its status moves, a webhook says so",
    pathParams: { ...tenantParam, ...domainParam },
    ok: { status: 200, description: "the domain as just verified", schema: v.domainView },
    errors: [...AUTH, "forbidden", "not_found", "invalid_body"],
    handler: async (c, { pool, options }) => {
      const tenant = c.req.param("tenant")!;
      const domain = pathDomain(c);
      if (!(await getDomain(pool, tenant, domain)))
        fail("not_found", `tenant ${tenant} has no domain ${domain} (GET /tenants/${tenant}/domains lists them)`);
      await verifyTenantDomains(pool, options.verification ?? {}, tenant, [domain]);
      return c.json(publicDomain((await getDomain(pool, tenant, domain))!));
    },
  },
];
