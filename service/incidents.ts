/**
 * Incidents from monitoring results, as pure functions (./incident-pass.ts applies them to the
 * database): one incident per tenant and cause (a listed IP, a failing SMTP/TLS check, a
 * certificate near its end, an old backup, held mail, a disk or memory short, an unreachable server), opened after
 * `openAfter` failing results in a row and resolved after `resolveAfter` passing ones in a row,
 * so a check that flaps (fail, pass, fail, …) opens nothing and an open incident does not close
 * on one lucky pass. An unknown result (the check could not tell) changes nothing.
 *
 * Escalation: channel 0 is told when the incident opens; each `escalateAfterMinutes` it stays
 * unacknowledged, the next channel is told, until the channels run out.
 */

export type CheckOutcome = "pass" | "fail" | "unknown";

export interface CheckState {
  open: boolean;
  /** Failing results in a row (while closed) / passing results in a row (while open). */
  streak: number;
}

export interface StateConfig {
  openAfter: number;
  resolveAfter: number;
}

export const DEFAULT_STATE_CONFIG: StateConfig = { openAfter: 2, resolveAfter: 2 };
export const CLOSED: CheckState = { open: false, streak: 0 };

export type Transition = "opened" | "resolved" | null;

/** The next state after one result, and whether an incident opened or resolved. */
export function step(
  s: CheckState,
  outcome: CheckOutcome,
  cfg: StateConfig = DEFAULT_STATE_CONFIG,
): { state: CheckState; transition: Transition } {
  if (outcome === "unknown") return { state: s, transition: null };
  if (!s.open) {
    if (outcome === "pass") return { state: CLOSED, transition: null };
    const streak = s.streak + 1;
    return streak >= cfg.openAfter
      ? { state: { open: true, streak: 0 }, transition: "opened" }
      : { state: { open: false, streak }, transition: null };
  }
  if (outcome === "fail") return { state: { open: true, streak: 0 }, transition: null };
  const streak = s.streak + 1;
  return streak >= cfg.resolveAfter ? { state: CLOSED, transition: "resolved" } : { state: { open: true, streak }, transition: null };
}

/** The causes an incident can have, as the monitor names its checks. */
export const CAUSES = ["blocklist", "smtp", "tls", "certificate", "backup", "held-mail", "disk", "memory", "unreachable", "dns"] as const;

/** The cause a check result belongs to (the verify checks' names; unknown names are their own cause). */
export function causeOf(check: string): string {
  if (check.startsWith("smtp")) return check.includes("tls") || check.includes("starttls") ? "tls" : "smtp";
  return check;
}

export interface EscalationInput {
  acknowledged: boolean;
  open: boolean;
  /** Channels told so far (0 = none yet). */
  escalation: number;
  /** When the last channel was told (or the incident opened). */
  lastAt: Date;
}

/**
 * The channel (index) to tell now, or null: the first channel at once; the next one when the
 * incident has stayed unacknowledged `afterMinutes` since the last was told.
 */
export function nextChannel(i: EscalationInput, channels: number, afterMinutes: number, now: Date): number | null {
  if (!i.open || i.escalation >= channels) return null;
  if (i.escalation === 0) return 0;
  if (i.acknowledged) return null;
  return now.getTime() - i.lastAt.getTime() >= afterMinutes * 60_000 ? i.escalation : null;
}

/** The one-line text every channel carries (Slack's `text`, the mail's subject). */
export function incidentLine(
  i: { id: number; tenant: string; cause: string; summary: string; status: string },
  escalated: boolean,
): string {
  const what = i.status === "resolved" ? "resolved" : escalated ? "still unacknowledged" : "opened";
  return `[penguinmails] incident ${i.id} ${what}: tenant ${i.tenant}, ${i.cause}: ${i.summary}`.replace(/[\r\n]+/g, " ").slice(0, 500);
}

export interface CauseResult {
  outcome: CheckOutcome;
  details: string[];
}

/**
 * One pass's results of a tenant, by cause: a cause fails when any of its results fails, is
 * unknown when none fails and one could not tell, passes otherwise. SMTP results split three
 * ways: no connection → `unreachable`; a certificate the probe warns about (under 14 days) →
 * `certificate`; any other failure → `smtp`.
 */
export function outcomesByCause(
  results: Array<{ check: string; subject: string; status: string; detail: string }>,
): Map<string, CauseResult> {
  const out = new Map<string, CauseResult>();
  const add = (cause: string, outcome: CheckOutcome, detail: string) => {
    const c = out.get(cause) ?? { outcome: "pass", details: [] };
    if (outcome === "fail" || (outcome === "unknown" && c.outcome === "pass")) c.outcome = outcome;
    if (outcome !== "pass") c.details.push(detail);
    out.set(cause, c);
  };
  for (const r of results) {
    const line = `${r.subject}: ${r.detail}`;
    if (r.check === "smtp") {
      const unreachable = r.status === "fail" && /cannot connect/.test(r.detail);
      add("unreachable", unreachable ? "fail" : "pass", line);
      if (unreachable) continue;
      add("smtp", r.status === "fail" ? "fail" : "pass", line);
      add("certificate", r.status === "warn" ? "fail" : "pass", line);
      continue;
    }
    add(causeOf(r.check), r.status === "fail" ? "fail" : r.status === "unknown" ? "unknown" : "pass", line);
  }
  return out;
}
