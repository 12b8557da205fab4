/**
 * A tenant's IPs as the platform shows them (role, warm-up day by the days each sent, today's cap and
 * volume, the reputation score and its inputs), each IP's reputation history, the customer's warm-up
 * of one IP, and the tenant's choice of the automatic emergency switch.
 */
import { z } from "zod";
import { IPV4 } from "../../providers/model/names";
import { AUTH, BODY, C, Route, jsonBody, paged, tenantParam } from "../http";
import { checked, fail } from "../problems";
import { requestBodies } from "../requests";
import { IpRow, listIps, saveSettings } from "../store/ips";
import { reputationHistory, sentDays } from "../store/reputation";
import { warmupToday } from "../tenant-ips";
import { ServerCheck, heldByIp } from "../server-checks";
import { serverChecks } from "../store/monitoring";
import * as q from "../schemas";
import { submitRequest } from "./submit";
import * as v from "../views";

const ipParam = { ip: z.string().regex(IPV4, "not an IPv4 address") };
const pathIp = (c: C) => checked("params", z.object(ipParam), { ip: c.req.param("ip")! }).ip;
const warmupBody = requestBodies.set_warmup.omit({ ip: true }).extend({ requester: q.oneLineText.optional() }).strict();

/** Each IP's mail held on its server's relay, by the server's latest check over SSH (an IP of a server never checked: absent). */
function heldOnRelay(checks: Array<{ last_check: ServerCheck | null }>): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of checks) if (c.last_check) for (const [ip, n] of Object.entries(heldByIp(c.last_check))) out.set(ip, n);
  return out;
}

const at = (d: Date | null) => (d ? new Date(d).toISOString() : null);

function publicIp(r: IpRow, sent: { days: number; today: number } | undefined, held: Map<string, number>) {
  const rep = r.reputation as { score: number; inputs: Record<string, unknown>; penalties: Record<string, number> } | null;
  return {
    ip: r.ip,
    server: r.server,
    role: r.role,
    status: r.status,
    ptr: r.ptr,
    since: at(r.since),
    releasedAt: at(r.released_at),
    monthlyUsd: Number(r.monthly_usd),
    warmup: {
      ...warmupToday(r.since, r.warmup, new Date(), sent?.days ?? 0),
      planDays: r.warmup?.length ?? null,
      sentToday: sent?.today ?? 0,
      restartedOn: r.warmup_from ? String(r.warmup_from).slice(0, 10) : null,
      heldOnRelay: held.get(r.ip) ?? null,
    },
    domains: r.domains,
    // A sending IP that carries no domain is billed, in SPF and warming up, and sends nothing (fewer domains than sending IPs).
    idle: r.domains === null ? null : r.role === "sending" && r.domains.length === 0,
    lastCheck: r.last_check ? { at: at(r.last_check_at), ...(r.last_check as object) } : null,
    reputation: rep ? { score: rep.score, at: at(r.reputation_at), inputs: rep.inputs, penalties: rep.penalties } : null,
  };
}

export const IP_ROUTES: Route[] = [
  {
    method: "get",
    path: "/tenants/{tenant}/ips",
    operationId: "listIps",
    summary:
      "the tenant's IPs: role, status, PTR, warm-up day (counted on days it sent), today's cap and sent, reputation score and its inputs, last monitoring result",
    pathParams: tenantParam,
    query: q.page(q.ipCursor),
    ok: { status: 200, description: "a page of IPs", schema: v.ipPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.page(q.ipCursor), c.req.query());
      const tenant = c.req.param("tenant")!;
      const rows = await listIps(pool, tenant, query.cursor, query.limit + 1);
      const sent = await sentDays(pool, tenant);
      const held = heldOnRelay(await serverChecks(pool, tenant));
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({
        server: last.server,
        role: last.role,
        slot: last.slot,
        ip: last.ip,
      }));
      return c.json({ ips: page.map((r) => publicIp(r, sent.get(r.ip), held)), nextCursor });
    },
  },
  {
    method: "get",
    path: "/tenants/{tenant}/ips/{ip}/reputation",
    operationId: "ipReputationHistory",
    summary: "one IP's reputation score by day over 90 days (the day's latest and lowest, with the inputs), newest first",
    pathParams: { ...tenantParam, ...ipParam },
    ok: { status: 200, description: "the history", schema: v.reputationHistoryView },
    errors: [...AUTH, "forbidden", "not_found", "invalid_body"],
    handler: async (c, { pool }) => {
      const tenant = c.req.param("tenant")!;
      const ip = pathIp(c);
      const known = await pool.query("select 1 from tenant_ips where tenant = $1 and ip = $2", [tenant, ip]);
      if (!known.rowCount) fail("not_found", `tenant ${tenant} has no IP ${ip} (GET /tenants/${tenant}/ips lists them)`);
      return c.json({ tenant, ip, days: await reputationHistory(pool, tenant, ip) });
    },
  },
  {
    method: "put",
    path: "/tenants/{tenant}/ips/{ip}/warmup",
    operationId: "setIpWarmup",
    summary:
      "the customer's warm-up of one IP: startVolume (messages on its first sending day), dailyGrowthPercent (above 0, at most 100), ceiling, paused; a set_warmup request (the relay's cap follows once applied, MailU is not restarted)",
    pathParams: { ...tenantParam, ...ipParam },
    body: warmupBody,
    ok: {
      status: 202,
      description: "recorded and queued (200 with the same request for a repeated Idempotency-Key)",
      schema: v.requestView,
    },
    errors: [...AUTH, ...BODY, "forbidden", "not_found", "idempotency_key_reused"],
    handler: async (c, { pool }) => {
      const tenant = c.req.param("tenant")!;
      const ip = pathIp(c);
      const { requester, ...own } = checked("body", warmupBody, await jsonBody(c));
      const known = await pool.query("select 1 from tenant_ips where tenant = $1 and ip = $2 and status = 'assigned'", [tenant, ip]);
      if (!known.rowCount) fail("not_found", `tenant ${tenant} has no IP ${ip} (GET /tenants/${tenant}/ips lists them)`);
      return submitRequest(c, { pool }, "set_warmup", { ip, ...own }, requester);
    },
  },
  {
    method: "put",
    path: "/tenants/{tenant}/settings",
    operationId: "saveSettings",
    summary:
      "the automatic emergency switch: opted in or out, and switchBelowScore (0-100: a sending IP whose reputation score falls below it is switched too; null: on a listing only). Switched = paused, its standby takes over; never onto a listed standby",
    pathParams: tenantParam,
    body: q.settings,
    ok: { status: 200, description: "saved", schema: v.settingsView },
    errors: [...AUTH, ...BODY, "forbidden"],
    handler: async (c, { pool }) => {
      const body = checked("body", q.settings, await jsonBody(c));
      const saved = await saveSettings(pool, c.req.param("tenant")!, body.autoEmergencySwitch, body.switchBelowScore);
      return c.json({ tenant: c.req.param("tenant")!, autoEmergencySwitch: body.autoEmergencySwitch, ...saved });
    },
  },
];
