/** An incident as the API and the console show it, and acknowledging one (both entry points use these). */
import { Pool } from "pg";
import { inTransaction } from "../scripts/lib/postgres/index";
import { Caller, may } from "./http";
import { IncidentEventRow, IncidentRow, acknowledge, addIncidentEvent, getIncident, incidentEvents } from "./store/incidents";

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export const publicIncident = (r: IncidentRow) => ({
  id: Number(r.id),
  tenant: r.tenant,
  cause: r.cause,
  status: r.status,
  summary: r.summary,
  openedAt: iso(r.opened_at)!,
  resolvedAt: iso(r.resolved_at),
  acknowledgedAt: iso(r.acknowledged_at),
  acknowledgedBy: r.acknowledged_by,
  channelsTold: r.escalation,
});

export const publicEvent = (e: IncidentEventRow) => ({ at: iso(e.at)!, kind: e.kind, detail: e.detail });

/** The incident with its timeline, or undefined when it does not exist or the caller may not see it (both 404). */
export async function incidentFor(pool: Pool, caller: Caller, id: number) {
  const row = await getIncident(pool, id);
  if (!row || !may(caller, row.tenant)) return undefined;
  return { ...publicIncident(row), timeline: (await incidentEvents(pool, id)).map(publicEvent) };
}

/** Acknowledges for the caller (once; a second acknowledgement changes nothing); undefined as incidentFor. */
export async function acknowledgeFor(pool: Pool, caller: Caller, id: number, by: string) {
  const row = await getIncident(pool, id);
  if (!row || !may(caller, row.tenant)) return undefined;
  await inTransaction(pool, async (c) => {
    const r = await acknowledge(c, id, by);
    if (r?.now) await addIncidentEvent(c, id, "acknowledged", `acknowledged by ${by}`);
  });
  return incidentFor(pool, caller, id);
}
