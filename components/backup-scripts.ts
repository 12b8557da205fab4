/**
 * What the backup step puts on a server and runs there, as pure functions:
 * restic's settings, the backup and restore scripts, and the systemd timer
 * that runs the backup. restic (Debian's package) makes every snapshot
 * encrypted (AES-256 with the repository password) and incremental (content-
 * defined chunks already in the repository are not sent again).
 *
 * What is backed up is what MailU needs to come back (MailU's setup layout,
 * ../shared/reference/mailu-and-dns.md §1): all of /mailu (mail, the admin
 * database in data/, DKIM keys, certificates, overrides, the queue, rspamd's
 * data) except redis (a cache), plus a consistent copy of the admin database
 * made with SQLite's online backup while MailU runs.
 */
import { COMPOSE, MAILU_DIR, RemoteFile } from "./mailu-scripts";

export const BACKUP_ENV = "/etc/penguinmails/backup.env";
export const BACKUP_PASSWORD = "/etc/penguinmails/backup.password";
export const BACKUP_SCRIPT = "/usr/local/sbin/penguinmails-backup";
export const RESTORE_SCRIPT = "/usr/local/sbin/penguinmails-restore";
export const BACKUP_SERVICE = "penguinmails-backup.service";
export const BACKUP_TIMER = "penguinmails-backup.timer";
export const BACKUP_STATUS = "/var/lib/penguinmails/backup-status.json";
/** Where the consistent copy of MailU's admin database is made before each backup. */
export const DB_COPY_DIR = "/var/backups/penguinmails";
/** MailU's admin database (SQLite, MailU's default: SQLALCHEMY_DATABASE_URI sqlite:////data/main.db). */
export const MAILU_DB = `${MAILU_DIR}/data/main.db`;
/** What a restore puts back. The files the install step writes from state (mailu.env, compose, the postfix override, DKIM keys) are not: state is their truth. */
export const RESTORED_DIRS = ["mail", "data", "certs", "mailqueue", "filter", "overrides/nginx", "overrides/dovecot", "overrides/rspamd"];

export interface BackupFiles {
  /** restic's repository for this server, e.g. s3:https://s3.example.com/bucket/acme/mx1. */
  repository: string;
  password: string;
  /** The backend's credentials and settings (AWS_ACCESS_KEY_ID, …), written to the env file. */
  env: Record<string, string>;
  /** The server's host name: snapshots carry it, so they continue across a rebuilt server. */
  host: string;
  /** systemd OnCalendar expression. */
  schedule: string;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
}

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
/** restic's own settings this file must not override. */
const RESERVED = ["RESTIC_REPOSITORY", "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_CACHE_DIR"];

export class BackupConfigError extends Error {
  override readonly name = "BackupConfigError";
}

/** systemd's environment file: one KEY=value per line; values are kept single-line and quoted. */
export function backupEnvFile(f: Pick<BackupFiles, "repository" | "env">): string {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(f.env)) {
    if (!ENV_NAME.test(k)) problems.push(`backupEnv key "${k}" is not an environment variable name (A-Z, 0-9, _)`);
    else if (RESERVED.includes(k)) problems.push(`backupEnv key ${k} is set by the backup step itself; remove it`);
    if (/[\n\r"\\$`]/.test(v)) problems.push(`backupEnv ${k}: the value may not contain newlines, quotes, backslashes, $ or \``);
  }
  if (/[\s"\\$`]/.test(f.repository)) problems.push("backup.repository may not contain spaces, quotes, backslashes, $ or `");
  if (problems.length) throw new BackupConfigError(problems.join("; "));
  const lines: Array<[string, string]> = [
    ["RESTIC_REPOSITORY", f.repository],
    ["RESTIC_PASSWORD_FILE", BACKUP_PASSWORD],
    ["RESTIC_CACHE_DIR", "/var/cache/restic"],
    ...Object.entries(f.env).sort(([a], [b]) => a.localeCompare(b)),
  ];
  return `# Written by penguinmails-infra (MailuBackup).\n${lines.map(([k, v]) => `${k}="${v}"`).join("\n")}\n`;
}

const LOAD_ENV = `set -a; . ${BACKUP_ENV}; set +a`;

/** Writes the status file verify can read on the server; `jq`-free, so plain printf. */
const STATUS_FN = `status() { mkdir -p "$(dirname ${BACKUP_STATUS})"; printf '{"at":"%s","ok":%s,"detail":"%s"}\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" > ${BACKUP_STATUS}; }`;

/**
 * The backup: a consistent copy of the admin database, then one restic
 * snapshot of /mailu and that copy, then retention (forget + prune). Exits
 * non-zero on any failure (the systemd unit then shows failed) and records
 * the outcome in the status file.
 */
export function backupScript(f: Pick<BackupFiles, "host" | "keepDaily" | "keepWeekly" | "keepMonthly">): string {
  return `#!/bin/bash
# Written by penguinmails-infra (MailuBackup): one encrypted, incremental snapshot of MailU's data.
set -euo pipefail
${LOAD_ENV}
${STATUS_FN}
trap 'status false "backup failed at line $LINENO (see journalctl -u ${BACKUP_SERVICE})"' ERR
mkdir -p ${DB_COPY_DIR}
if [ -f ${MAILU_DB} ]; then
  # SQLite's online backup: a consistent copy while MailU's admin writes.
  sqlite3 ${MAILU_DB} ".backup '${DB_COPY_DIR}/main.db'"
fi
restic backup --host ${f.host} --tag penguinmails --one-file-system \\
  --exclude ${MAILU_DIR}/redis --exclude '${MAILU_DB}-journal' --exclude '${MAILU_DB}-wal' \\
  ${MAILU_DIR} ${DB_COPY_DIR}
restic forget --host ${f.host} --tag penguinmails --keep-daily ${f.keepDaily} --keep-weekly ${f.keepWeekly} --keep-monthly ${f.keepMonthly} --prune
status true "snapshot saved"
echo "backup: done"
`;
}

/**
 * The restore: a snapshot (default the newest of this server) into a
 * staging folder, MailU stopped if it runs, each restored folder swapped in,
 * the admin database from its consistent copy, MailU started again if it ran.
 * usage: penguinmails-restore [SNAPSHOT|latest]
 */
export function restoreScript(f: Pick<BackupFiles, "host">): string {
  const dirs = RESTORED_DIRS.join(" ");
  return `#!/bin/bash
# Written by penguinmails-infra (MailuBackup): puts a snapshot of MailU's data back.
set -euo pipefail
${LOAD_ENV}
snapshot="\${1:-latest}"
case "$snapshot" in latest|[0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;; *) echo "restore: '$snapshot' is not a snapshot id" >&2; exit 2 ;; esac
staging="$(mktemp -d /var/tmp/penguinmails-restore.XXXXXX)"
trap 'rm -rf "$staging"' EXIT
echo "restore: snapshot $snapshot of ${f.host}"
if [ "$snapshot" = latest ]; then restic restore latest --host ${f.host} --target "$staging"; else restic restore "$snapshot" --target "$staging"; fi
running=""
${COMPOSE}
if [ -f ${MAILU_DIR}/docker-compose.yml ] && [ -n "$(cd ${MAILU_DIR} && dc ps -q 2>/dev/null)" ]; then
  running=1
  echo "restore: stopping MailU"
  (cd ${MAILU_DIR} && dc down)
fi
restored=0
for d in ${dirs}; do
  [ -d "$staging${MAILU_DIR}/$d" ] || continue
  mkdir -p "$(dirname "${MAILU_DIR}/$d")"
  rm -rf "${MAILU_DIR}/$d.restore-old"
  [ -e "${MAILU_DIR}/$d" ] && mv "${MAILU_DIR}/$d" "${MAILU_DIR}/$d.restore-old"
  mv "$staging${MAILU_DIR}/$d" "${MAILU_DIR}/$d"
  rm -rf "${MAILU_DIR}/$d.restore-old"
  restored=$((restored + 1))
done
if [ -f "$staging${DB_COPY_DIR}/main.db" ]; then
  mkdir -p ${MAILU_DIR}/data
  cp -p "$staging${DB_COPY_DIR}/main.db" ${MAILU_DB}
fi
echo "restore: $restored folders of ${MAILU_DIR} put back"
if [ -n "$running" ]; then echo "restore: starting MailU"; (cd ${MAILU_DIR} && dc up -d); fi
echo "restore: done"
`;
}

export function backupService(): string {
  return `# Written by penguinmails-infra (MailuBackup).
[Unit]
Description=penguinmails backup of MailU's data (restic)
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
ExecStart=${BACKUP_SCRIPT}
Nice=10
IOSchedulingClass=idle
`;
}

export function backupTimer(f: Pick<BackupFiles, "schedule">): string {
  if (!/^[A-Za-z0-9*:.,/~ -]+$/.test(f.schedule))
    throw new BackupConfigError(`backup.schedule "${f.schedule}" is not a systemd calendar expression`);
  return `# Written by penguinmails-infra (MailuBackup).
[Unit]
Description=penguinmails backup of MailU's data, on schedule

[Timer]
OnCalendar=${f.schedule}
RandomizedDelaySec=30min
Persistent=true

[Install]
WantedBy=timers.target
`;
}

export function backupFiles(f: BackupFiles): RemoteFile[] {
  return [
    { path: BACKUP_ENV, content: backupEnvFile(f), mode: "0600" },
    { path: BACKUP_PASSWORD, content: f.password, mode: "0600" },
    { path: BACKUP_SCRIPT, content: backupScript(f), mode: "0700" },
    { path: RESTORE_SCRIPT, content: restoreScript(f), mode: "0700" },
    { path: `/etc/systemd/system/${BACKUP_SERVICE}`, content: backupService(), mode: "0644" },
    { path: `/etc/systemd/system/${BACKUP_TIMER}`, content: backupTimer(f), mode: "0644" },
  ];
}

/**
 * The step's script: restic and sqlite3 from Debian when missing, the files
 * (from stdin, only what differs), the repository made on first use, the
 * timer enabled; and on a server with no MailU data yet whose repository has
 * snapshots (a rebuilt server), the newest snapshot put back before MailU
 * starts. A repository that this stack's password does not open stops here
 * with the reason.
 */
export function backupStepScript(writeFiles: string, host: string): string {
  return `command -v restic >/dev/null && command -v sqlite3 >/dev/null || {
  echo "backup: installing restic and sqlite3 from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic sqlite3 >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic sqlite3 >/dev/null; }
}
${writeFiles}
if command -v systemd-analyze >/dev/null && ! systemd-analyze calendar "$(sed -n 's/^OnCalendar=//p' /etc/systemd/system/${BACKUP_TIMER})" >/dev/null 2>&1; then
  echo "backup: backup.schedule '$(sed -n 's/^OnCalendar=//p' /etc/systemd/system/${BACKUP_TIMER})' is not a calendar expression systemd accepts (see systemd.time(7)); fix penguinmails-infra:backup.schedule" >&2
  exit 2
fi
${LOAD_ENV}
if restic cat config >/dev/null 2>/tmp/penguinmails-restic.err; then
  echo "backup: repository ready"
elif grep -q "wrong password" /tmp/penguinmails-restic.err; then
  echo "backup: the repository $RESTIC_REPOSITORY exists but this stack's backup password does not open it (it was made by another stack of this server). Restore that stack's state (npm run fleet -- restore-state) or point backup.repository elsewhere." >&2
  exit 3
else
  restic init >/dev/null && echo "backup: repository created"
fi
if was_changed '/etc/systemd/system/*'; then systemctl daemon-reload; fi
systemctl enable ${BACKUP_TIMER}
systemctl start ${BACKUP_TIMER}
if [ ! -d ${MAILU_DIR}/mail ] && [ ! -f ${MAILU_DB} ] && [ -n "$(restic snapshots --host ${host} --tag penguinmails --json --latest 1 | tr -d '[]\\n ')" ]; then
  echo "backup: this server has no MailU data and the repository has snapshots: restoring the newest"
  ${RESTORE_SCRIPT} latest
fi
rm -f /tmp/penguinmails-restic.err
echo "backup: scheduled"
`;
}

/**
 * Before an OS reinstall (an image change, hostwinds.OsImage): a snapshot of MailU's data now, with
 * the server's own backup script. A server with MailU data and no backup script stops it: the
 * reinstall would lose the data. A server with no MailU data has nothing to lose.
 */
export function preReinstallScript(server: string): string {
  return `set -eu
if [ -x ${BACKUP_SCRIPT} ]; then
  echo "reinstall: backing up MailU's data on ${server} before its OS is reinstalled"
  ${BACKUP_SCRIPT}
elif [ -d ${MAILU_DIR}/mail ] || [ -f ${MAILU_DB} ]; then
  echo "reinstall: ${server} holds MailU data but has no backup step (penguinmails-infra:backup is not set): reinstalling would lose it. Set penguinmails-infra:backup and run up (the backup step comes first), or put the server's image back. Nothing was reinstalled." >&2
  exit 3
else
  echo "reinstall: no MailU data on ${server}: nothing to back up"
fi
`;
}

/** What the step runs when it is first recorded and the image is the one the server was bought with: nothing. */
export const NO_REINSTALL_SCRIPT = "echo 'reinstall: the server runs the image it was bought with; nothing to back up'";
