/**
 * A domain's mailboxes (SMTP sending accounts): list, add, change, remove, rotate the password.
 * Each change is a request (./submit.ts) carried out by the tenant's stack, which makes the
 * password; the request that made one shows it once (GET /requests/{id}). Refused here, before
 * any commit, naming the field: a domain the tenant does not have, a local part MailU would
 * refuse, more mailboxes than the tier allows, a mailbox that exists (add) or does not (the rest).
 */
import { z } from "zod";
import { HOSTNAME } from "../../providers/model/names";
import { limitsFor } from "../../policies/rules";
import { AUTH, BODY, C, Route, RouteDeps, jsonBody, paged, tenantParam } from "../http";
import { checked, fail } from "../problems";
import { mailboxAddress, requestBodies } from "../requests";
import { getDomain } from "../store/domains";
import { MailboxRow, getMailbox, listMailboxes, mailboxesInUse } from "../store/mailboxes";
import { getTenantRow } from "../store/tenants";
import { Tier } from "../../providers/model/tiers";
import { submitRequest } from "./submit";
import * as q from "../schemas";
import * as v from "../views";

const domainParam = { domain: z.string().regex(HOSTNAME, "not a domain name") };
const addressParam = { address: mailboxAddress };
const cursorSchema = z.object({ address: z.string() }).strict();
const newMailbox = requestBodies.add_mailbox.omit({ domain: true }).extend({ requester: q.oneLineText.optional() }).strict();
const changedMailbox = requestBodies.change_mailbox.omit({ address: true }).extend({ requester: q.oneLineText.optional() }).strict();
const bodyless = z.object({ requester: q.oneLineText.optional() }).strict();

const publicMailbox = (m: MailboxRow) => ({ address: m.address, domain: m.domain, quotaMb: m.quota_mb, enabled: m.enabled, host: m.host });

/** The domain of the path, one of the tenant's (else 422 naming it). */
async function tenantDomain(c: C, deps: RouteDeps): Promise<string> {
  const tenant = c.req.param("tenant")!;
  const domain = checked("params", z.object(domainParam), { domain: c.req.param("domain") }).domain;
  if (!(await getDomain(deps.pool, tenant, domain)))
    fail(
      "unknown_domain",
      `tenant ${tenant} has no domain ${domain}; add it first (POST /tenants/${tenant}/domains), GET /tenants/${tenant}/domains lists them`,
      [{ field: "params.domain", message: "not a domain of this tenant" }],
    );
  return domain;
}

/** The mailbox of the path, on the path's domain (else 404 naming it). */
async function pathMailbox(c: C, deps: RouteDeps): Promise<string> {
  const tenant = c.req.param("tenant")!;
  const domain = await tenantDomain(c, deps);
  const { address } = checked("params", z.object(addressParam), { address: decodeURIComponent(c.req.param("address")!) });
  if (!address.endsWith(`@${domain}`) || !(await getMailbox(deps.pool, tenant, address)))
    fail(
      "not_found",
      `tenant ${tenant} has no mailbox ${address} on ${domain} (GET /tenants/${tenant}/domains/${domain}/mailboxes lists them)`,
      [{ field: "params.address", message: "no such mailbox" }],
    );
  return address;
}

/** The tier's mailbox limit, counting the mailboxes asked for and not yet made. */
async function refuseOverTier(deps: RouteDeps, tenant: string): Promise<void> {
  const t = await getTenantRow(deps.pool, tenant);
  const tier = (t?.config as { tier?: Tier } | undefined)?.tier;
  if (!tier) return; // a tenant made by hand in YAML: its stack's judge and the policy pack refuse it
  const { maxMailboxes } = limitsFor(tier, {});
  const n = await mailboxesInUse(deps.pool, tenant);
  if (n >= maxMailboxes)
    fail(
      "over_tier_limit",
      `tenant ${tenant} (${tier}) has ${n} mailboxes (made or asked for); the ${tier} tier allows ${maxMailboxes}; remove one or move to a larger tier`,
      [{ field: "body.localPart", message: `over the ${tier} tier's ${maxMailboxes} mailboxes` }],
    );
}

export const MAILBOX_ROUTES: Route[] = [
  {
    method: "get",
    path: "/tenants/{tenant}/domains/{domain}/mailboxes",
    operationId: "listMailboxes",
    summary: "the domain's mailboxes: address, quota, enabled, the host they log in to (never a password)",
    pathParams: { ...tenantParam, ...domainParam },
    query: q.page(cursorSchema),
    ok: { status: 200, description: "a page of mailboxes", schema: v.mailboxPageView },
    errors: [...AUTH, "forbidden", "invalid_query", "invalid_body", "unknown_domain"],
    handler: async (c, deps) => {
      const query = checked("query", q.page(cursorSchema), c.req.query());
      const domain = await tenantDomain(c, deps);
      const rows = await listMailboxes(deps.pool, c.req.param("tenant")!, domain, query.cursor?.address, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ address: last.address }));
      return c.json({ mailboxes: page.map(publicMailbox), nextCursor });
    },
  },
  {
    method: "post",
    path: "/tenants/{tenant}/domains/{domain}/mailboxes",
    operationId: "addMailbox",
    summary: "add a mailbox (a request; its result shows the password and SMTP/IMAP settings once, in GET /requests/{id})",
    pathParams: { ...tenantParam, ...domainParam },
    body: newMailbox,
    ok: {
      status: 202,
      description: "recorded and queued (200 with the same request for a repeated Idempotency-Key)",
      schema: v.requestView,
    },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused", "unknown_domain", "mailbox_exists", "over_tier_limit"],
    handler: async (c, deps) => {
      const tenant = c.req.param("tenant")!;
      const { requester, ...body } = checked("body", newMailbox, await jsonBody(c));
      const domain = await tenantDomain(c, deps);
      const address = `${body.localPart}@${domain}`;
      if (await getMailbox(deps.pool, tenant, address))
        fail(
          "mailbox_exists",
          `tenant ${tenant} has the mailbox ${address} already; change it (PUT) or rotate its password (POST …/rotate)`,
          [{ field: "body.localPart", message: "exists" }],
        );
      await refuseOverTier(deps, tenant);
      return submitRequest(c, deps, "add_mailbox", { domain, ...body }, requester);
    },
  },
  {
    method: "put",
    path: "/tenants/{tenant}/domains/{domain}/mailboxes/{address}",
    operationId: "changeMailbox",
    summary: "change a mailbox's quota or enabled flag (a request; the password stays)",
    pathParams: { ...tenantParam, ...domainParam, address: z.string() },
    body: changedMailbox,
    ok: { status: 202, description: "recorded and queued", schema: v.requestView },
    errors: [...AUTH, ...BODY, "forbidden", "not_found", "idempotency_key_reused", "unknown_domain"],
    handler: async (c, deps) => {
      const { requester, ...body } = checked("body", changedMailbox, await jsonBody(c));
      const address = await pathMailbox(c, deps);
      return submitRequest(c, deps, "change_mailbox", { address, ...body }, requester);
    },
  },
  {
    method: "delete",
    path: "/tenants/{tenant}/domains/{domain}/mailboxes/{address}",
    operationId: "removeMailbox",
    summary: "remove a mailbox (a request; MailU deletes the user, its stored mail stays on the server)",
    pathParams: { ...tenantParam, ...domainParam, address: z.string() },
    ok: { status: 202, description: "recorded and queued", schema: v.requestView },
    errors: [...AUTH, "forbidden", "not_found", "invalid_body", "idempotency_key_reused", "unknown_domain"],
    handler: async (c, deps) => submitRequest(c, deps, "remove_mailbox", { address: await pathMailbox(c, deps) }),
  },
  {
    method: "post",
    path: "/tenants/{tenant}/domains/{domain}/mailboxes/{address}/rotate",
    operationId: "rotateMailboxPassword",
    summary: "give a mailbox a new password (a request; its result shows the new one once, in GET /requests/{id})",
    pathParams: { ...tenantParam, ...domainParam, address: z.string() },
    body: bodyless,
    ok: { status: 202, description: "recorded and queued", schema: v.requestView },
    errors: [...AUTH, ...BODY, "forbidden", "not_found", "idempotency_key_reused", "unknown_domain"],
    handler: async (c, deps) => {
      const text = await c.req.text();
      let raw: unknown = {};
      try {
        if (text.trim()) raw = JSON.parse(text);
      } catch {
        fail("invalid_json", "the body is not JSON");
      }
      const { requester } = checked("body", bodyless, raw);
      return submitRequest(c, deps, "rotate_mailbox", { address: await pathMailbox(c, deps) }, requester);
    },
  },
];
