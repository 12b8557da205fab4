/**
 * An IP's reputation as one number from 0 to 100, with the inputs it came from, and the decision of
 * the automatic switch. Pure functions: the monitor (./monitor.ts) gathers the inputs and keeps the
 * result (store/reputation.ts); the tests pin the formula.
 *
 * The formula starts at 100 and takes off:
 * - blocklists: 35 for each list that lists the IP, at most 70. A list that refused the query, timed
 *   out or answered 127.255.255.x is "unknown" and takes nothing off: such an answer is the list's
 *   error, never a listing (RFC 5782 §2.1: listed = an A record in 127.0.0.0/8, not listed =
 *   NXDOMAIN; Spamhaus, "DNSBL return codes: technical update", 2019-09-30: 127.255.255.0/24 are
 *   errors that "should NOT be interpreted as any sort of reputation"; scripts/lib/verify/mail-auth.ts
 *   `blocklistVerdict`);
 * - complaints (the platform's reports over the window): nothing up to 0.1% of sent, then up to 40
 *   at 0.3% and 50 from 0.5% (Google's sender guidelines: keep the spam rate under 0.10%, never
 *   reach 0.30%);
 * - bounces: nothing up to 2% of sent, then up to 30 at 10% [assumed: common practice, no
 *   mailbox provider publishes a figure];
 * - warm-up: up to 10 for an IP at the start of its warm-up, less as it advances, nothing once warmed
 *   up or without a plan (a new IP has little reputation behind it).
 * Days with nothing sent carry no rates (null), so no penalty.
 */
import type { Verdict } from "./store/monitoring";

/** The days of usage reports the rates are taken over. */
export const RATE_WINDOW_DAYS = 7;

export interface ReputationInputs {
  blocklists: Array<{ list: string; verdict: Verdict }>;
  /** Sums of the platform's usage reports over the window. */
  usage: { days: number; sent: number; bounced: number; complained: number };
  /** The warm-up's day (counted on days the IP sent) and its plan's length; null without a plan. */
  warmup: { day: number | null; planDays: number | null };
}

export interface Reputation {
  score: number;
  inputs: ReputationInputs & {
    bounceRate: number | null;
    complaintRate: number | null;
    warmupProgress: number | null;
  };
  /** What each input took off the 100. */
  penalties: { blocklists: number; complaints: number; bounces: number; warmup: number };
}

/** 0 up to `from`, rising linearly to `max` at `to`, `max` beyond. */
function ramp(x: number, from: number, to: number, max: number): number {
  if (x <= from) return 0;
  return Math.min(max, ((x - from) / (to - from)) * max);
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export function reputationScore(i: ReputationInputs): Reputation {
  const listed = i.blocklists.filter((b) => b.verdict === "listed").length;
  const sent = i.usage.sent;
  const bounceRate = sent > 0 ? Math.min(1, i.usage.bounced / sent) : null;
  const complaintRate = sent > 0 ? Math.min(1, i.usage.complained / sent) : null;
  const progress = i.warmup.day !== null && i.warmup.planDays ? Math.min(1, Math.max(0, (i.warmup.day - 1) / i.warmup.planDays)) : null;
  const complaints =
    complaintRate === null
      ? 0
      : complaintRate <= 0.003
        ? ramp(complaintRate, 0.001, 0.003, 40)
        : 40 + ramp(complaintRate, 0.003, 0.005, 10);
  const penalties = {
    blocklists: Math.min(70, 35 * listed),
    complaints: round(complaints, 1),
    bounces: round(bounceRate === null ? 0 : ramp(bounceRate, 0.02, 0.1, 30), 1),
    warmup: round(progress === null ? 0 : 10 * (1 - progress), 1),
  };
  const score = Math.max(
    0,
    Math.min(100, Math.round(100 - penalties.blocklists - penalties.complaints - penalties.bounces - penalties.warmup)),
  );
  return {
    score,
    inputs: {
      ...i,
      bounceRate: bounceRate === null ? null : round(bounceRate, 5),
      complaintRate: complaintRate === null ? null : round(complaintRate, 5),
      warmupProgress: progress === null ? null : round(progress, 3),
    },
    penalties,
  };
}

/** What the automatic switch looks at for one sending IP. */
export interface SwitchInputs {
  /** The tenant opted in (PUT /tenants/{t}/settings autoEmergencySwitch). */
  optedIn: boolean;
  /** Below this score the IP is switched too; null: on a listing only. */
  switchBelowScore: number | null;
  verdict: Verdict;
  score: number | null;
  /** A pause of this IP is already on its way. */
  pauseOpen: boolean;
  /** The standby that would take its place (the server's next free one) and its own blocklist verdict; null: none free. */
  standby: { ip: string; verdict: Verdict | null } | null;
}

export type SwitchDecision =
  { action: "none" } | { action: "switch"; reason: string; standby: string } | { action: "alert"; reason: string; why: string };

/** Whether to pause a sending IP so its standby takes over: on a listing, or a score below the tenant's threshold; never onto a listed standby. */
export function switchDecision(s: SwitchInputs): SwitchDecision {
  if (!s.optedIn || s.pauseOpen) return { action: "none" };
  const reason =
    s.verdict === "listed"
      ? "listed"
      : s.switchBelowScore !== null && s.score !== null && s.score < s.switchBelowScore
        ? `score ${s.score} below ${s.switchBelowScore}`
        : undefined;
  if (!reason) return { action: "none" };
  if (!s.standby) return { action: "alert", reason, why: "no free standby IP" };
  if (s.standby.verdict === "listed") return { action: "alert", reason, why: `one free standby, ${s.standby.ip}, and it is listed itself` };
  return { action: "switch", reason, standby: s.standby.ip };
}
