/**
 * Incidents as monitoring finds them: each pass's results of a tenant, by cause, go through the
 * flapping filter (./incidents.ts `step`, its state in check_states under a row lock), which
 * opens or resolves the tenant's incident for that cause; every result of an open incident, each
 * automatic action and each acknowledgement is a line of its timeline. Then the channels
 * (./notify.ts) are told, the next one each time an incident stays unacknowledged too long.
 */
import { Pool } from "pg";
import { inTransaction } from "../scripts/lib/postgres/index";
import { CauseResult, DEFAULT_STATE_CONFIG, StateConfig, step } from "./incidents";
import { addIncidentEvent, insertIncident, lockCheckState, openIncidentOf, resolveIncident, saveCheckState } from "./store/incidents";

/** One cause's result in one pass; returns the transition it made. */
export async function recordCause(
  pool: Pool,
  tenant: string,
  cause: string,
  r: CauseResult,
  cfg: StateConfig = DEFAULT_STATE_CONFIG,
): Promise<"opened" | "resolved" | null> {
  return inTransaction(pool, async (c) => {
    const before = await lockCheckState(c, tenant, cause);
    const { state, transition } = step(before, r.outcome, cfg);
    await saveCheckState(c, tenant, cause, state);
    const line = `${r.outcome}${r.details.length ? `: ${r.details.join("; ")}` : ""}`;
    let incident = await openIncidentOf(c, tenant, cause);
    if (transition === "opened" && !incident) {
      incident = await insertIncident(c, tenant, cause, r.details[0] ?? `${cause} failing`);
      await addIncidentEvent(c, incident.id, "opened", `${cause} failed ${cfg.openAfter} passes in a row`);
    }
    if (incident) await addIncidentEvent(c, incident.id, "check", line);
    if (transition === "resolved" && incident) {
      await addIncidentEvent(c, incident.id, "resolved", `${cause} passed ${cfg.resolveAfter} passes in a row`);
      await resolveIncident(c, incident.id);
    }
    return transition;
  });
}

/** An automatic action (the emergency switch, …) on the tenant's open incident for the cause, if any. */
export async function recordAction(pool: Pool, tenant: string, cause: string, detail: string): Promise<void> {
  await inTransaction(pool, async (c) => {
    const incident = await openIncidentOf(c, tenant, cause);
    if (incident) await addIncidentEvent(c, incident.id, "action", detail);
  });
}
