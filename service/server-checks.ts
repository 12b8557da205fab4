/**
 * The monitor's checks of a server itself, as pure functions: one shell script run over the SSH
 * connection the stack's MailU steps use (one round trip per server per pass), the parser of its
 * output, and the judgement of what it read (./server-pass.ts runs it; the incidents come from the
 * results by cause, ./incidents.ts).
 *
 * What the script reads, each from where the server keeps it:
 * - mail held on the relay (Debian's Postfix on the host, components/outbound-relay.ts): the warm-up
 *   cap's held list (components/warmup-cap.ts: `<id> <recipients> <transport> <sender>` per message
 *   the policy answered HOLD), counting only ids still in the hold queue as penguinmails-warmup
 *   does; the message files in the queue's hold and deferred folders (Postfix keeps one file per
 *   message under `queue_directory`, postconf(5), QSHAPE_README); and each relay transport's
 *   `smtp_bind_address` (`postconf -P`, postconf(1): `service/type/parameter = value`), so held
 *   mail is told per IP;
 * - disk use of the root filesystem and of MailU's data (/mailu): `df -P -B1` (POSIX format,
 *   1-byte blocks: `Filesystem 1-blocks Used Available Capacity Mounted-on`, df(1));
 * - memory: MemTotal and MemAvailable of /proc/meminfo (in kB, proc(5));
 * - the backup step's own record (components/backup-scripts.ts BACKUP_STATUS: `{"at","ok","detail"}`
 *   written by every backup run).
 */
import { BACKUP_STATUS } from "../components/backup-scripts";
import { MAILU_DIR } from "../components/mailu-scripts";
import { WARMUP_STATE } from "../components/warmup-cap";
import type { CheckResult } from "../scripts/lib/verify/result";

const SECTIONS = ["held", "queue", "bind", "df", "meminfo", "backup", "now"] as const;

/** Read-only: nothing on the server changes. Each section starts with `== <name>`; a missing tool leaves its section empty. */
export const SERVER_CHECK_SCRIPT = `set +e
q="$(postconf -h queue_directory 2>/dev/null || echo /var/spool/postfix)"
echo "== held"
if [ -f ${WARMUP_STATE}/held ]; then
  while read -r id n t sender; do [ -n "$id" ] && [ -e "$q/hold/$id" ] && echo "$t $n"; done <${WARMUP_STATE}/held
fi
echo "== queue"
for d in hold deferred active incoming; do echo "$d $(find "$q/$d" -type f 2>/dev/null | wc -l)"; done
echo "== bind"
postconf -P 2>/dev/null | grep '/smtp_bind_address = '
echo "== df"
for m in / ${MAILU_DIR}; do [ -d "$m" ] && df -P -B1 "$m" 2>/dev/null | tail -n +2 | sed "s|^|$m |"; done
echo "== meminfo"
grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo "== backup"
cat ${BACKUP_STATUS} 2>/dev/null
echo
echo "== now"
date -u +%Y-%m-%dT%H:%M:%SZ
`;

export interface ServerCheck {
  /** When the server read it (its own clock). */
  at: string;
  held: {
    /** Messages the warm-up cap holds, by relay transport (`pm-mx1-ip1`). */
    byTransport: Record<string, number>;
    /** Messages in the relay's queue folders. */
    queue: { hold: number; deferred: number; active: number; incoming: number };
  };
  /** Each relay transport's source address. */
  transportIps: Record<string, string>;
  /** Root (`/`) and MailU's data (`/mailu`, when it exists). */
  disks: Array<{ mount: string; filesystem: string; sizeBytes: number; usedBytes: number; availableBytes: number }>;
  memory: { totalKb: number; availableKb: number } | null;
  /** The backup step's record, or null when no backup ran yet (or none is set up). */
  backup: { at: string; ok: boolean; detail: string } | null;
}

export class ServerCheckParseError extends Error {
  override readonly name = "ServerCheckParseError";
}

function sections(stdout: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split("\n")) {
    const m = /^== (\w+)$/.exec(line.trim());
    if (m && (SECTIONS as readonly string[]).includes(m[1])) out.set(m[1], (current = []));
    else if (current && line.trim()) current.push(line.trim());
  }
  return out;
}

const int = (s: string | undefined) => (s && /^\d+$/.test(s) ? Number(s) : 0);

/** The script's output as a ServerCheck; throws ServerCheckParseError when it is not the script's. */
export function parseServerCheck(stdout: string): ServerCheck {
  const s = sections(stdout);
  const missing = SECTIONS.filter((k) => !s.has(k));
  if (missing.length)
    throw new ServerCheckParseError(`the server check's output has no ${missing.join(", ")} section (is bash the login shell?)`);
  const byTransport: Record<string, number> = {};
  for (const l of s.get("held")!) {
    const [t] = l.split(/\s+/);
    if (/^[A-Za-z0-9-]+$/.test(t)) byTransport[t] = (byTransport[t] ?? 0) + 1;
  }
  const queue = { hold: 0, deferred: 0, active: 0, incoming: 0 };
  for (const l of s.get("queue")!) {
    const [k, n] = l.split(/\s+/);
    if (k in queue) queue[k as keyof typeof queue] = int(n);
  }
  const transportIps: Record<string, string> = {};
  for (const l of s.get("bind")!) {
    const m = /^([A-Za-z0-9-]+)\/\w+\/smtp_bind_address = (\d{1,3}(?:\.\d{1,3}){3})$/.exec(l);
    if (m) transportIps[m[1]] = m[2];
  }
  const disks: ServerCheck["disks"] = [];
  for (const l of s.get("df")!) {
    const f = l.split(/\s+/);
    if (f.length < 6 || !/^\d+$/.test(f[2])) continue;
    disks.push({ mount: f[0], filesystem: f[1], sizeBytes: int(f[2]), usedBytes: int(f[3]), availableBytes: int(f[4]) });
  }
  const mem = Object.fromEntries(
    s.get("meminfo")!.flatMap((l) => {
      const m = /^(\w+):\s+(\d+) kB$/.exec(l);
      return m ? [[m[1], Number(m[2])]] : [];
    }),
  );
  const memory = mem.MemTotal ? { totalKb: mem.MemTotal, availableKb: mem.MemAvailable ?? 0 } : null;
  return {
    at: s.get("now")![0] ?? "",
    held: { byTransport, queue },
    transportIps,
    disks,
    memory,
    backup: parseBackupStatus(s.get("backup")!),
  };
}

function parseBackupStatus(lines: string[]): ServerCheck["backup"] {
  const line = lines.find((l) => l.startsWith("{"));
  if (!line) return null;
  try {
    const j = JSON.parse(line) as { at?: unknown; ok?: unknown; detail?: unknown };
    if (typeof j.at !== "string" || Number.isNaN(Date.parse(j.at))) return null;
    return { at: j.at, ok: j.ok === true, detail: typeof j.detail === "string" ? j.detail : "" };
  } catch {
    return null;
  }
}

/** Messages held on the relay per IP (the transports the server binds to it), for GET …/ips. */
export function heldByIp(c: Pick<ServerCheck, "held" | "transportIps">): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ip of Object.values(c.transportIps)) out[ip] ??= 0;
  for (const [t, n] of Object.entries(c.held.byTransport)) {
    const ip = c.transportIps[t];
    if (ip) out[ip] = (out[ip] ?? 0) + n;
  }
  return out;
}

export interface ServerLimits {
  /** Held and deferred messages on the relay above which the `held-mail` check fails. */
  heldMailOver: number;
  /** A filesystem is short at this percentage used or more. */
  diskUsedPct: number;
  /** Memory is short when less than this percentage of it is available. */
  memoryAvailablePct: number;
  /** The newest backup may be this many hours old (the default schedule is daily). */
  backupMaxAgeHours: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = { heldMailOver: 500, diskUsedPct: 90, memoryAvailablePct: 10, backupMaxAgeHours: 26 };

const GIB = 1024 ** 3;
const gib = (b: number) => `${(b / GIB).toFixed(1)} GiB`;

/** A filesystem's used share, in percent (of what is usable: used + available, as df's Capacity). */
export const usedPct = (d: { usedBytes: number; availableBytes: number }) =>
  d.usedBytes + d.availableBytes ? Math.round((d.usedBytes / (d.usedBytes + d.availableBytes)) * 1000) / 10 : 0;

/** The server's results for one pass, as monitoring results (check names are the incident causes). */
export function judgeServer(server: string, c: ServerCheck, limits: ServerLimits = DEFAULT_SERVER_LIMITS, now = new Date()): CheckResult[] {
  const r = (check: string, status: CheckResult["status"], detail: string): CheckResult => ({ check, subject: server, status, detail });
  const stuck = c.held.queue.hold + c.held.queue.deferred;
  const capped = Object.values(c.held.byTransport).reduce((a, b) => a + b, 0);
  const out = [
    r(
      "held-mail",
      stuck > limits.heldMailOver ? "fail" : "pass",
      `${stuck} message(s) held or deferred on the relay (${capped} by the warm-up cap; over ${limits.heldMailOver} opens an incident)`,
    ),
  ];
  const short = c.disks.filter((d) => usedPct(d) >= limits.diskUsedPct);
  out.push(
    c.disks.length
      ? r(
          "disk",
          short.length ? "fail" : "pass",
          c.disks.map((d) => `${d.mount} ${usedPct(d)}% used, ${gib(d.availableBytes)} free`).join("; ") +
            (short.length ? ` (at least ${limits.diskUsedPct}% used is short)` : ""),
        )
      : r("disk", "unknown", "df gave nothing"),
  );
  if (!c.memory) out.push(r("memory", "unknown", "/proc/meminfo gave nothing"));
  else {
    const pct = Math.round((c.memory.availableKb / c.memory.totalKb) * 1000) / 10;
    out.push(
      r(
        "memory",
        pct < limits.memoryAvailablePct ? "fail" : "pass",
        `${pct}% of ${Math.round(c.memory.totalKb / 1024)} MiB available${pct < limits.memoryAvailablePct ? ` (under ${limits.memoryAvailablePct}% is short)` : ""}`,
      ),
    );
  }
  out.push(judgeBackup(c.backup, limits, now, r));
  return out;
}

function judgeBackup(
  b: ServerCheck["backup"],
  limits: ServerLimits,
  now: Date,
  r: (check: string, status: CheckResult["status"], detail: string) => CheckResult,
): CheckResult {
  if (!b) return r("backup", "unknown", `no backup has run yet (${BACKUP_STATUS} absent)`);
  const hours = Math.round(((now.getTime() - Date.parse(b.at)) / 3_600_000) * 10) / 10;
  if (!b.ok) return r("backup", "fail", `the last backup failed at ${b.at}: ${b.detail}`);
  return hours > limits.backupMaxAgeHours
    ? r("backup", "fail", `the newest backup is ${hours} h old (at ${b.at}; its schedule allows ${limits.backupMaxAgeHours} h)`)
    : r("backup", "pass", `the newest backup is ${hours} h old (at ${b.at})`);
}

/** A server that could not be checked (no SSH connection): the `unreachable` cause. */
export function unreachableResult(server: string, detail: string): CheckResult {
  return { check: "unreachable", subject: server, status: "fail", detail: `over SSH: ${detail}` };
}

/** Whether a server's disk or memory is short by its latest check (for capacity advice). */
export function shortOf(
  c: Pick<ServerCheck, "disks" | "memory">,
  limits: ServerLimits = DEFAULT_SERVER_LIMITS,
): { disk: boolean; memory: boolean; why: string[] } {
  const disks = c.disks.filter((d) => usedPct(d) >= limits.diskUsedPct);
  const memPct = c.memory ? (c.memory.availableKb / c.memory.totalKb) * 100 : 100;
  const why = [
    ...disks.map((d) => `${d.mount} is ${usedPct(d)}% used`),
    ...(memPct < limits.memoryAvailablePct ? [`${Math.round(memPct * 10) / 10}% of memory available`] : []),
  ];
  return { disk: disks.length > 0, memory: memPct < limits.memoryAvailablePct, why };
}

/** One line of a server's resource use for the console, from its latest check. */
export function resourceLine(c: ServerCheck): string {
  const disks = c.disks.map((d) => `${d.mount} ${usedPct(d)}% used`);
  const mem = c.memory ? [`memory ${Math.round((c.memory.availableKb / c.memory.totalKb) * 1000) / 10}% available`] : [];
  const held = c.held.queue.hold + c.held.queue.deferred;
  return [...disks, ...mem, `${held} held on the relay`, `checked ${c.at}`].join("; ");
}
