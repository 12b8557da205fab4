/** SQL for incidents: the flapping filter's state per tenant and cause, the incidents and their timelines. */
import { Queryable } from "../../scripts/lib/postgres/index";
import { CLOSED, CheckState } from "../incidents";

export interface IncidentRow {
  id: string;
  tenant: string;
  cause: string;
  status: "open" | "resolved";
  summary: string;
  opened_at: Date;
  resolved_at: Date | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  escalation: number;
  notified_at: Date | null;
}

export interface IncidentEventRow {
  id: string;
  incident_id: string;
  at: Date;
  kind: string;
  detail: string;
}

/** The state of (tenant, cause), locked for the caller's transaction. */
export async function lockCheckState(c: Queryable, tenant: string, cause: string): Promise<CheckState> {
  await c.query("insert into check_states (tenant, cause, state) values ($1, $2, $3) on conflict do nothing", [
    tenant,
    cause,
    JSON.stringify(CLOSED),
  ]);
  const { rows } = await c.query<{ state: CheckState }>("select state from check_states where tenant = $1 and cause = $2 for update", [
    tenant,
    cause,
  ]);
  return rows[0].state;
}

export async function saveCheckState(c: Queryable, tenant: string, cause: string, s: CheckState): Promise<void> {
  await c.query("update check_states set state = $3 where tenant = $1 and cause = $2", [tenant, cause, JSON.stringify(s)]);
}

export async function openIncidentOf(c: Queryable, tenant: string, cause: string): Promise<IncidentRow | undefined> {
  return (await c.query<IncidentRow>("select * from incidents where tenant = $1 and cause = $2 and status = 'open'", [tenant, cause]))
    .rows[0];
}

export async function insertIncident(c: Queryable, tenant: string, cause: string, summary: string): Promise<IncidentRow> {
  return (
    await c.query<IncidentRow>("insert into incidents (tenant, cause, status, summary) values ($1, $2, 'open', $3) returning *", [
      tenant,
      cause,
      summary.slice(0, 1000),
    ])
  ).rows[0];
}

export async function addIncidentEvent(c: Queryable, id: string | number, kind: string, detail: string): Promise<void> {
  await c.query("insert into incident_events (incident_id, kind, detail) values ($1, $2, $3)", [id, kind, detail.slice(0, 2000)]);
}

export async function resolveIncident(c: Queryable, id: string | number): Promise<void> {
  await c.query("update incidents set status = 'resolved', resolved_at = now() where id = $1", [id]);
}

/** Acknowledges an open incident once; returns the row (acknowledged before or now), or undefined when there is none. */
export async function acknowledge(c: Queryable, id: number, by: string): Promise<{ row: IncidentRow; now: boolean } | undefined> {
  const { rows } = await c.query<IncidentRow>(
    "update incidents set acknowledged_at = now(), acknowledged_by = $2 where id = $1 and acknowledged_at is null returning *",
    [id, by],
  );
  if (rows[0]) return { row: rows[0], now: true };
  const row = await getIncident(c, id);
  return row ? { row, now: false } : undefined;
}

export async function getIncident(c: Queryable, id: number): Promise<IncidentRow | undefined> {
  return (await c.query<IncidentRow>("select * from incidents where id = $1", [id])).rows[0];
}

export async function incidentEvents(c: Queryable, id: number, limit = 500): Promise<IncidentEventRow[]> {
  return (
    await c.query<IncidentEventRow>(
      "select * from (select * from incident_events where incident_id = $1 order by id desc limit $2) e order by id",
      [id, limit],
    )
  ).rows;
}

/** Incidents of these tenants ('*' = all), newest first, below the cursor's id. */
export async function listIncidents(
  c: Queryable,
  tenants: string[] | "*",
  o: { status?: "open" | "resolved"; beforeId?: number; limit: number },
): Promise<IncidentRow[]> {
  return (
    await c.query<IncidentRow>(
      `select * from incidents where ($1::text[] is null or tenant = any($1::text[])) and ($2::text is null or status = $2)
          and ($3::bigint is null or id < $3) order by id desc limit $4`,
      [tenants === "*" ? null : tenants, o.status ?? null, o.beforeId ?? null, o.limit],
    )
  ).rows;
}

/** Open incidents some channel is still to hear about (fewer channels told than there are). */
export async function incidentsToNotify(c: Queryable, channels: number): Promise<IncidentRow[]> {
  return (await c.query<IncidentRow>("select * from incidents where status = 'open' and escalation < $1 order by id", [channels])).rows;
}

export async function markNotified(c: Queryable, id: string | number, escalation: number): Promise<void> {
  await c.query("update incidents set escalation = $2, notified_at = now() where id = $1", [id, escalation]);
}

/** Open incidents per tenant of the scope (the console's overview). */
export async function openIncidentCounts(c: Queryable, tenants: string[] | "*"): Promise<Map<string, number>> {
  const { rows } = await c.query<{ tenant: string; n: string }>(
    "select tenant, count(*) as n from incidents where status = 'open' and ($1::text[] is null or tenant = any($1::text[])) group by tenant",
    [tenants === "*" ? null : tenants],
  );
  return new Map(rows.map((r) => [r.tenant, Number(r.n)]));
}
