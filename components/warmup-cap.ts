/**
 * The warm-up cap: each sending (and standby) IP sends at most that day's volume from its warm-up plan
 * (providers/model/warmup.ts; day 1 is the UTC date the IP was got, the SecondaryIp's `since`), and
 * mail past it stays queued on the host relay, for that IP — never sent from another.
 *
 * Why this mechanism. Postfix counts nothing itself: `defer_transports` only holds a whole transport
 * and per-destination rate delays spread mail, they do not cap a day. The packaged rate-limit policy
 * daemons key on something else: Debian's policyd-rate-limit counts per SASL user or client address
 * over a sliding window (every message here comes from one client, MailU's smtp container, without
 * SASL), and postfwd keeps its per-item rate counters in memory over a sliding window. So the relay
 * uses Postfix's own extension point, SMTP access policy delegation (SMTPD_POLICY_README): a
 * `check_policy_service` in `smtpd_end_of_data_restrictions`, served by a short bash script that
 * Postfix's spawn(8) starts per connection (bash and flock are in every Debian system: no package,
 * no daemon to keep running). At the end of each message it finds the IP the sender's domain leaves
 * by (the same `sender-transports` map Postfix routes with) and counts the message's recipients
 * against that IP's cap for the day; past it the answer is `HOLD` (access(5)): the message waits on the
 * relay's hold queue and is listed. A daily systemd timer (00:00 UTC, Persistent) runs
 * `penguinmails-warmup`, which writes the day's caps (read by the policy at each message: nothing
 * reloads, nothing of MailU restarts) and releases held mail oldest first (`postsuper -H`), through
 * the IP its domain leaves by, as far as that IP's new cap allows. If the policy fails, Postfix
 * answers 451 (smtpd_policy_service_default_action) and the mail stays in MailU's queue.
 * All pure functions: the engine test runs a real Postfix on exactly these files.
 */
import { IpWarmup } from "../providers/model/warmup";

export class WarmupPlanError extends Error {
  override readonly name = "WarmupPlanError";
}

/** Readable by the policy's user (/etc/penguinmails holds root-only files). */
export const WARMUP_DIR = "/etc/penguinmails-warmup";
export const WARMUP_PLAN = `${WARMUP_DIR}/plan`;
/** Written on the server by WARMUP_JOB each day, not by the install. */
export const WARMUP_CAPS = `${WARMUP_DIR}/caps`;
export const WARMUP_JOB = "/usr/local/sbin/penguinmails-warmup";
export const WARMUP_POLICY = "/usr/local/sbin/penguinmails-warmup-policy";
export const WARMUP_SERVICE = "penguinmails-warmup.service";
export const WARMUP_TIMER = "penguinmails-warmup.timer";
export const WARMUP_STATE = "/var/lib/penguinmails-warmup";
/** The system user the policy runs as (spawn(8) refuses root and the mail system owner). */
export const WARMUP_USER = "pm-warmup";
/** The policy's master.cf service name. */
export const WARMUP_POLICY_SERVICE = "pm-warmup";

/** An IP with a warm-up: its slot, the relay transport that sends from it (outbound-relay.ts) and when it was got (ISO time). */
export interface WarmupIp {
  slot: string;
  transport: string;
  since: string;
}

/** Every IP the same daily volumes (uncapped after them, running), or each IP its own (providers/model/warmup.ts `ipWarmup`). */
export type WarmupPlanSpec = readonly number[] | { bySlot: Record<string, IpWarmup>; default: IpWarmup };

const warmupOf = (spec: WarmupPlanSpec, slot: string): IpWarmup =>
  Array.isArray(spec)
    ? { volumes: [...(spec as readonly number[])], holdsAtEnd: false, paused: false }
    : ((spec as { bySlot: Record<string, IpWarmup> }).bySlot[slot] ?? (spec as { default: IpWarmup }).default);

/**
 * The plan file: one line per IP, `<transport> <UTC date it was got> <run|paused> <day 1 volume> <day 2 volume> … [+]`
 * (`+`: the last volume stays the cap after the plan, a ramp's ceiling; without it, no cap then).
 * Day N is the N-th day the IP actually sent, counted on the server (WARMUP_JOB), so an IP that sat
 * idle resumes where it stopped; a paused IP's day does not advance. An IP whose `since` is not a
 * date is refused with its slot named.
 */
export function warmupPlan(ips: WarmupIp[], spec: WarmupPlanSpec): string {
  const lines = ips.map((s) => {
    const w = warmupOf(spec, s.slot);
    const bad = w.volumes.filter((v) => !Number.isInteger(v) || v < 1);
    if (!w.volumes.length || bad.length)
      throw new WarmupPlanError(`warm-up plan of ${s.slot}: expected daily volumes of 1 or more messages, found [${w.volumes.join(", ")}]`);
    const t = Date.parse(s.since);
    if (!s.since || Number.isNaN(t))
      throw new WarmupPlanError(
        `warm-up plan: ${s.slot} has no start date (its "since" is "${s.since}"); refresh the stack (up --refresh)`,
      );
    const mode = w.paused ? "paused" : "run";
    // A warm-up started over (recover_ip resume) counts from that day: the server starts a new count on another date.
    const got = new Date(t).toISOString().slice(0, 10);
    const from = w.restartedOn && w.restartedOn > got ? w.restartedOn : got;
    return `${s.transport} ${from} ${mode} ${w.volumes.join(" ")}${w.holdsAtEnd ? " +" : ""}`;
  });
  return [
    "# Written by penguinmails-infra (MailuInstall): each IP's warm-up, day N = the N-th day it sent; read by penguinmails-warmup.",
    "# transport  since  run|paused  volume-day-1 volume-day-2 …  [+: the last volume stays the cap]  (else after the last day: no cap)",
    ...lines,
    "",
  ].join("\n");
}

/** main.cf lines of the relay that call the policy. */
export const warmupMainCf = (): string[] => [
  "# The warm-up cap (warmup-cap.ts): at the end of each message the policy counts it against its IP's volume for",
  "# the day; past it the message is held here (HOLD) until penguinmails-warmup releases it, through the same IP.",
  "# A policy that does not answer: 451 (smtpd_policy_service_default_action), the mail stays in MailU's queue.",
  `smtpd_end_of_data_restrictions = check_policy_service unix:private/${WARMUP_POLICY_SERVICE}`,
];

/** master.cf lines: the policy, spawned per connection as its own user (SMTPD_POLICY_README, spawn(8)). */
export const warmupMasterCf = (): string[] => [
  "# The warm-up cap's policy: spawn(8) runs it per smtpd connection, unprivileged (SMTPD_POLICY_README).",
  `${WARMUP_POLICY_SERVICE.padEnd(10)} unix  -       n       n       -       0       spawn`,
  `  user=${WARMUP_USER} argv=${WARMUP_POLICY}`,
];

/** Shell: the transport a sender leaves by, as Postfix looks it up in sender-transports (@domain; <> for bounces). */
const ROUTE = `route() {
  local key="<>"
  [ -z "$1" ] || key="@\${1##*@}"
  awk -v k="\${key,,}" '$1 == k { sub(/:.*/, "", $2); print $2; exit }' "$map"
}`;

const PATHS = `etc="\${PM_WARMUP_ETC:-${WARMUP_DIR}}"
state="\${PM_WARMUP_STATE:-${WARMUP_STATE}}"
map="\${PM_SENDER_MAP:-/etc/postfix/sender-transports}"
plan="$etc/plan"`;

/**
 * The policy (Postfix policy protocol: `name=value` lines, an empty line, answered with `action=…`
 * and an empty line; several requests per connection). Only END-OF-MESSAGE requests count; the
 * count is the message's recipients. A transport that already has held mail holds new mail too, so
 * the oldest leaves first. `PM_WARMUP_*`/`PM_SENDER_MAP` move the files (unit tests); spawn(8) passes none.
 */
export function warmupPolicyScript(): string {
  return `#!/bin/bash
# Written by penguinmails-infra (MailuInstall): the warm-up cap, a Postfix SMTP access policy run by
# spawn(8) for each smtpd connection (master.cf: ${WARMUP_POLICY_SERVICE}). At the end of each message:
# under the day's cap of the IP its sender's domain leaves by, counted and DUNNO; past it, HOLD on this
# relay, listed in ${WARMUP_STATE}/held for penguinmails-warmup to release through the same IP.
set -u
${PATHS}
${ROUTE}
decide() {
  local sender="$1" n="$2" id="$3" t day cap used
  t="$(route "$sender")"
  [ -n "$t" ] || { echo DUNNO; return; }
  exec 9>>"$state/lock"
  flock 9
  if [ ! -f "$etc/caps" ]; then
    echo "$id $n $t $sender" >>"$state/held"
    echo "HOLD warm-up: today's caps are not computed yet"
    return
  fi
  day="$(awk '$1 == "date" { print $2; exit }' "$etc/caps")"
  cap="$(awk -v t="$t" '$1 == t { print $2; exit }' "$etc/caps")"
  if [ -z "$cap" ] || [ "$cap" = "-" ]; then echo DUNNO; return; fi
  used="$(cat "$state/$day/$t" 2>/dev/null || echo 0)"
  if [ $((used + n)) -le "$cap" ] && ! awk -v t="$t" '$3 == t { f = 1 } END { exit !f }' "$state/held" 2>/dev/null; then
    mkdir -p "$state/$day"
    echo $((used + n)) >"$state/$day/$t"
    echo DUNNO
  else
    echo "$id $n $t $sender" >>"$state/held"
    echo "HOLD warm-up: $t has sent $used of its $cap messages for $day"
  fi
}
declare -A attr=()
while IFS= read -r line; do
  line="\${line%$'\\r'}"
  if [ -n "$line" ]; then attr["\${line%%=*}"]="\${line#*=}"; continue; fi
  action=DUNNO
  if [ "\${attr[protocol_state]:-}" = END-OF-MESSAGE ]; then
    n="\${attr[recipient_count]:-1}"
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || n=1
    action="$(decide "\${attr[sender]:-}" "$n" "\${attr[queue_id]:--}")" || action="DEFER_IF_PERMIT warm-up policy failed"
  fi
  printf 'action=%s\\n\\n' "$action"
  attr=()
done
`;
}

/**
 * The daily update, as root: today's cap per IP from the plan into WARMUP_CAPS (atomically), then held
 * mail released oldest first through the IP its domain leaves by today, as far as that IP's cap allows.
 * `--date` computes another day (the engine test plays tomorrow with it).
 */
export function warmupJobScript(): string {
  return `#!/bin/bash
# Written by penguinmails-infra (MailuInstall): the warm-up cap's daily update (${WARMUP_TIMER}, 00:00 UTC).
#   1. each IP's cap for the day from ${WARMUP_PLAN} (day N = the N-th day the IP sent, so an idle
#      IP resumes where it stopped; a paused one stays; after the plan's last day, no cap or its
#      ceiling) into ${WARMUP_CAPS}, which the policy reads at every message: nothing reloads;
#   2. mail the policy held is released oldest first (postsuper -H), through the IP its domain leaves
#      by, as far as that IP's cap for the day allows; the rest stays held for the next day.
# usage: penguinmails-warmup [--date YYYY-MM-DD]   (default: today, UTC)
set -euo pipefail
${PATHS}
user="\${PM_WARMUP_USER:-${WARMUP_USER}}"
date="$(date -u +%F)"
case "\${1:-}" in
  "") ;;
  --date) date="\${2:-}" ;;
  -h | --help) sed -n '2,9p' "$0" | sed 's/^# \\{0,1\\}//'; exit 0 ;;
  *) echo "penguinmails-warmup: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
[[ "$date" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || { echo "penguinmails-warmup: --date needs a date such as 2026-01-31, not '$date'" >&2; exit 2; }
${ROUTE}
tmp="$(mktemp "$etc/caps.XXXXXX")"
echo "date $date" >"$tmp"
mkdir -p "$state/sent-days"
while read -r t since mode volumes; do
  case "$t" in "" | "#"*) continue ;; esac
  # A plan written before run|paused: every IP runs.
  case "$mode" in run | paused) ;; *) volumes="$mode $volumes" mode=run ;; esac
  read -r -a v <<<"$volumes"
  hold=0
  if [ "\${v[-1]}" = + ]; then hold=1; unset 'v[-1]'; fi
  # The days this IP sent, counted once each: a new IP on the slot (another since) starts over.
  since="$(date -u -d "$since" +%F)"
  sent="$state/sent-days/$t"
  [ -f "$sent" ] && [ "$(head -n 1 "$sent")" = "since $since" ] || echo "since $since" >"$sent"
  if [ "$mode" = run ]; then
    for d in "$state"/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]; do
      dd="\${d##*/}"
      [ -d "$d" ] && [[ "$dd" < "$date" ]] && ! [[ "$dd" < "$since" ]] || continue
      [ "$(cat "$d/$t" 2>/dev/null || echo 0)" -gt 0 ] || continue
      grep -qx "$dd" "$sent" || echo "$dd" >>"$sent"
    done
  fi
  day="$(wc -l <"$sent")"
  if [ "$day" -le "\${#v[@]}" ]; then cap="\${v[day - 1]}"; elif [ "$hold" = 1 ]; then cap="\${v[-1]}"; else cap=-; fi
  echo "$t $cap day $day$([ "$mode" = run ] || echo " paused")" >>"$tmp"
done <"$plan"
chmod 0644 "$tmp"
mv -f "$tmp" "$etc/caps"

install -d -o "$user" -g "$user" -m 0750 "$state" "$state/$date"
for f in lock held; do [ -e "$state/$f" ] || install -m 0640 -o "$user" -g "$user" /dev/null "$state/$f"; done
exec 9>>"$state/lock"
flock 9
queue="$(postconf -h queue_directory)"
kept="$(mktemp)"
blocked=" "
released=0
while read -r id n t sender; do
  [ -n "$id" ] || continue
  [ -e "$queue/hold/$id" ] || continue # delivered, deleted or released by hand: off the list
  now="$(route "$sender")"
  [ -z "$now" ] || t="$now" # the IP the domain leaves by today (a paused IP's domains: its standby)
  cap="$(awk -v t="$t" '$1 == t { print $2; exit }' "$etc/caps")"
  used="$(cat "$state/$date/$t" 2>/dev/null || echo 0)"
  if [[ "$blocked" != *" $t "* ]] && { [ -z "$cap" ] || [ "$cap" = - ] || [ $((used + n)) -le "$cap" ]; } && postsuper -H "$id" 2>/dev/null; then
    postqueue -i "$id" 2>/dev/null || true
    echo $((used + n)) >"$state/$date/$t"
    released=$((released + 1))
  else
    blocked="$blocked$t "
    echo "$id $n $t $sender" >>"$kept"
  fi
done <"$state/held"
install -m 0640 -o "$user" -g "$user" "$kept" "$state/held"
rm -f "$kept"
chown -R "$user:$user" "$state/$date"
find "$state" -mindepth 1 -maxdepth 1 -type d -mtime +7 -exec rm -rf {} +
echo "warm-up $date: $(awk '$1 != "date" { printf "%s%s %s", s, $1, ($2 == "-" ? "no cap" : $2); s = ", " }' "$etc/caps"); released $released, still held $(wc -l <"$state/held")"
`;
}

export function warmupService(): string {
  return `# Written by penguinmails-infra (MailuInstall).
[Unit]
Description=penguinmails: each sending IP's warm-up cap for the day, and held mail released
After=postfix.service

[Service]
Type=oneshot
ExecStart=${WARMUP_JOB}
`;
}

export function warmupTimer(): string {
  return `# Written by penguinmails-infra (MailuInstall).
[Unit]
Description=penguinmails: the warm-up caps, daily at 00:00 UTC

[Timer]
OnCalendar=*-*-* 00:00:00 UTC
Persistent=true

[Install]
WantedBy=timers.target
`;
}
