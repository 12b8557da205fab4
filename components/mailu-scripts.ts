/**
 * The scripts MailuInstall runs on a server over SSH, as pure functions.
 * Files travel on the script's stdin (the only secret channel: the script
 * text itself is plain in state), one line per file: `<path> <mode> <base64>`.
 * Each file is written atomically and only when its content differs, and the
 * script acts only on what changed: `docker compose up -d` recreates the
 * containers whose config changed, the postfix override (read only when its
 * container starts) restarts smtp, netplan is applied only for a new netplan
 * file, the outbound rules are rebuilt only for a new outbound script.
 */
import { MAILU_SUBNET } from "./mailu-files";

export interface RemoteFile {
  path: string;
  content: string;
  mode: "0600" | "0644" | "0700";
}

/** Where MailU lives on a server (MailU's setup layout). */
export const MAILU_DIR = "/mailu";
export const NETPLAN_FILE = "/etc/netplan/60-penguinmails.yaml";
export const OUTBOUND_SCRIPT = "/etc/penguinmails/outbound.sh";
export const OUTBOUND_UNIT = "/etc/systemd/system/penguinmails-outbound.service";

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

/** The stdin of a files script. */
export function fileBundle(files: RemoteFile[]): string {
  for (const f of files)
    if (!SAFE_PATH.test(f.path) || f.path.includes("..")) throw new Error(`refusing to write to "${f.path}": not a plain absolute path`);
  return files.map((f) => `${f.path} ${f.mode} ${Buffer.from(f.content, "utf8").toString("base64")}`).join("\n") + "\n";
}

/** Reads the bundle from stdin, writes what differs, and leaves the list of written paths in `changed`. */
export const WRITE_FILES = `set -euo pipefail
umask 077
changed=()
while read -r path mode data; do
  [ -n "$path" ] || continue
  mkdir -p "$(dirname "$path")"
  tmp="$(mktemp "$path.new.XXXXXX")"
  printf '%s' "$data" | base64 -d > "$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; else mv -f "$tmp" "$path"; changed+=("$path"); fi
done
was_changed() { local p; for p in "\${changed[@]}"; do case "$p" in $1) return 0 ;; esac; done; return 1; }
echo "files written: \${#changed[@]}\${changed[*]:+ (\${changed[*]})}"`;

/**
 * MailU's files, then the stack: compose recreates what changed; smtp restarts for a new postfix
 * override. Compose refuses to change an existing network ("needs to be recreated"), and the
 * network changes when outbound routing switches between Docker's host_ipv4 (one sending IP) and
 * SNAT rules (several): then the stack goes down and up once.
 */
export function mailuConfigScript(): string {
  const networks = `sed -n '/^networks:/,$p' ${MAILU_DIR}/docker-compose.yml 2>/dev/null || true`;
  return `old_networks="$(${networks})"
${WRITE_FILES}
cd ${MAILU_DIR}
mkdir -p certs data dkim mail mailqueue filter redis overrides/nginx overrides/dovecot overrides/postfix overrides/rspamd
smtp_was_running="$(docker compose -p mailu ps -q smtp 2>/dev/null || true)"
if [ -n "$smtp_was_running" ] && [ "$old_networks" != "$(${networks})" ]; then
  echo "mailu: the network changed; taking the stack down to recreate it"
  docker compose -p mailu down
fi
docker compose -p mailu up -d --remove-orphans
if [ -n "$smtp_was_running" ] && was_changed '${MAILU_DIR}/overrides/postfix/*'; then
  docker compose -p mailu restart smtp
fi
echo "mailu: up"
`;
}

/** The sending IPs on the NIC (netplan) and the outbound rules, kept across reboots by a oneshot unit. */
export function networkScript(): string {
  return `${WRITE_FILES}
if was_changed '${NETPLAN_FILE}'; then netplan apply; echo "netplan: applied"; fi
if was_changed '${OUTBOUND_SCRIPT}'; then ${OUTBOUND_SCRIPT}; echo "outbound rules: rebuilt"; fi
if was_changed '${OUTBOUND_UNIT}'; then systemctl daemon-reload; systemctl enable penguinmails-outbound.service; fi
`;
}

export function outboundUnit(): string {
  return `# Written by penguinmails-infra (MailuInstall): outbound mail rules after a reboot.
[Unit]
Description=penguinmails outbound mail through the sending IPs (SNAT from ${MAILU_SUBNET})
After=network-online.target docker.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=${OUTBOUND_SCRIPT}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Creates the domains and the postmaster through MailU's CLI once the admin
 * container answers. `domain` is a no-op for an existing domain and `admin
 * --mode update` sets the password of an existing account, so a rerun is
 * harmless. stdin: `domain <name>` lines, then `admin <local part> <domain> <password>`.
 */
export function accountsScript(): string {
  return `set -euo pipefail
cd ${MAILU_DIR}
admin() { docker compose -p mailu exec -T admin flask mailu "$@"; }
for i in $(seq 1 60); do
  if admin --help >/dev/null 2>&1; then break; fi
  [ "$i" = 60 ] && { echo "MailU's admin container did not answer within 5 minutes" >&2; exit 1; }
  sleep 5
done
while read -r kind a b c; do
  case "$kind" in
    domain) admin domain "$a" >/dev/null; echo "domain $a: present" ;;
    admin) admin admin "$a" "$b" "$c" --mode update >/dev/null; echo "postmaster $a@$b: present" ;;
    "") ;;
    *) echo "unknown line kind '$kind'" >&2; exit 2 ;;
  esac
done
`;
}

export function accountsInput(domains: string[], postmaster: string, password: string): string {
  return [...domains.map((d) => `domain ${d}`), `admin ${postmaster} ${domains[0]} ${password}`, ""].join("\n");
}
