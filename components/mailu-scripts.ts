/**
 * The scripts MailuInstall runs on a server over SSH, as pure functions.
 * Files travel on the script's stdin (the only secret channel: the script
 * text itself is plain in state), one line per file: `<path> <mode> <base64>`.
 * Each file is written atomically and only when its content differs, and the
 * script acts only on what changed: packages are installed only when
 * missing; `docker compose up -d` recreates the containers whose config
 * changed; the postfix override (read only when its container starts)
 * restarts smtp; addresses, firewall and relay are applied only for a new
 * file of theirs. So a second run installs nothing and restarts nothing.
 */
import { WARMUP_CAPS, WARMUP_DIR, WARMUP_JOB, WARMUP_PLAN, WARMUP_STATE, WARMUP_TIMER, WARMUP_USER } from "./warmup-cap";

export interface RemoteFile {
  path: string;
  content: string;
  mode: "0600" | "0644" | "0700" | "0755";
}

/** Where MailU lives on a server (MailU's setup layout). */
export const MAILU_DIR = "/mailu";
/** The sending IPs for ifupdown, with `@NIC@` for the card; rendered into INTERFACES_FILE on the server. */
export const INTERFACES_TEMPLATE = "/etc/penguinmails/interfaces.in";
export const INTERFACES_FILE = "/etc/network/interfaces.d/60-penguinmails";
export const FIREWALL_RULES = "/etc/penguinmails/mailu-outbound.rules";
export const FIREWALL_UNIT = "/etc/systemd/system/penguinmails-firewall.service";
export const SYSCTL_FILE = "/etc/sysctl.d/60-penguinmails.conf";
export const RELAY_MAIN_CF = "/etc/postfix/main.cf";
export const RELAY_MASTER_CF = "/etc/postfix/master.cf";
export const RELAY_SENDER_MAP = "/etc/postfix/sender-transports";

/**
 * What a stock Debian server lacks, from Debian's archive: Docker Engine and Compose, Postfix for
 * the relay, iptables, ifupdown (Debian's default; present on stock images). Debian 13 "trixie"
 * (the default image) has Compose v2 in its docker-compose package (2.26, the `docker compose`
 * plugin MailU's docs use); Debian 12 "bookworm" has Compose v1 (1.29, the `docker-compose`
 * command): COMPOSE_CHOICE below. The firewall stays iptables on both: Debian's `iptables` is the
 * nftables-backed iptables-nft since Debian 10 (wiki.debian.org/nftables), and Docker Engine 26.1
 * (trixie's docker.io) writes its own rules, the DOCKER-USER chain ours hooks into, only through
 * iptables (Docker's native nftables backend came in Engine 29, experimental; docs.docker.com
 * "Docker with nftables"), so native nft rules would sit beside Docker's instead of in its chain.
 */
export const SERVER_PACKAGES = ["docker.io", "docker-compose", "postfix", "iptables", "ifupdown"] as const;
/**
 * From Debian 13 the `docker` command is a package of its own, docker-cli, which docker.io only
 * recommends (trixie's docker.io 26.1.5+dfsg1-9: "Recommends: … docker-cli"; bookworm's docker.io
 * ships the CLI itself and has no docker-cli). Recommends are not installed here, so it is named.
 */
export const PACKAGES_FROM_DEBIAN_13 = ["docker-cli"] as const;

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

/** Installs the missing packages with apt-get; does nothing when all are installed. */
export function packagesScript(): string {
  return `set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
wanted=(${SERVER_PACKAGES.join(" ")})
. /etc/os-release
[ "\${VERSION_ID:-}" = 12 ] || wanted+=(${PACKAGES_FROM_DEBIAN_13.join(" ")})
for p in "\${wanted[@]}"; do
  dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ \${#missing[@]} -eq 0 ]; then
  echo "packages: all present"
else
  # The relay's configuration is ours (written next): Debian's postfix package is asked to write none.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "packages: installing \${missing[*]} from Debian's archive"
  log="$(mktemp)"
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "\${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2; echo "packages: apt-get failed (above)" >&2; exit 1
  fi
  rm -f "$log"
  echo "packages: installed \${missing[*]}"
fi
${COMPOSE_CHOICE}
`;
}

/** Where the packages step writes which Compose this server has (one line: the command). */
export const COMPOSE_FILE = "/etc/penguinmails/compose";
/** Where Debian's docker-compose 2.x package puts the Compose v2 plugin (Debian 13; `dpkg -L docker-compose`). */
export const COMPOSE_PLUGIN = "/usr/libexec/docker/cli-plugins/docker-compose";

/**
 * Decided once per server, when its packages are installed: Compose v2 (\`docker compose\`) where
 * Debian's package installed the plugin (Debian 13), else Compose v1 (\`docker-compose\`, Debian 12).
 */
const COMPOSE_CHOICE = `mkdir -p /etc/penguinmails
if [ -x ${COMPOSE_PLUGIN} ]; then echo "docker compose" > ${COMPOSE_FILE}; else echo "docker-compose" > ${COMPOSE_FILE}; fi
echo "compose: $(cat ${COMPOSE_FILE})"`;

/**
 * \`dc\`: the Compose the packages step chose for this server (COMPOSE_CHOICE), without asking
 * Docker before every call; a server whose packages step has not written it yet looks for the plugin.
 */
export const COMPOSE = `if [ -r ${COMPOSE_FILE} ]; then read -r -a compose < ${COMPOSE_FILE}; elif [ -x ${COMPOSE_PLUGIN} ]; then compose=(docker compose); else compose=(docker-compose); fi
dc() { "\${compose[@]}" -p mailu "$@"; }`;

/**
 * MailU's files, then the stack: compose validates the project and recreates what changed; smtp restarts
 * for a new postfix override and front for a new nginx override. Compose refuses to change an existing
 * network ("needs to be recreated"): then the stack goes down and up once.
 */
export function mailuConfigScript(): string {
  const networks = `sed -n '/^networks:/,$p' ${MAILU_DIR}/docker-compose.yml 2>/dev/null || true`;
  return `old_networks="$(${networks})"
${WRITE_FILES}
${COMPOSE}
cd ${MAILU_DIR}
mkdir -p certs data dkim mail mailqueue filter redis overrides/nginx overrides/dovecot overrides/postfix overrides/rspamd
dc config -q
smtp_was_running="$(dc ps -q smtp 2>/dev/null || true)"
if [ -n "$smtp_was_running" ] && [ "$old_networks" != "$(${networks})" ]; then
  echo "mailu: the network changed; taking the stack down to recreate it"
  dc down
fi
dc up -d --remove-orphans
if [ -n "$smtp_was_running" ] && was_changed '${MAILU_DIR}/overrides/postfix/*'; then dc restart smtp; fi
if [ -n "$smtp_was_running" ] && was_changed '${MAILU_DIR}/overrides/nginx/*'; then dc restart front; fi
echo "mailu: up"
`;
}

/**
 * The sending IPs on the NIC (ifupdown for boot, \`ip\` now), the firewall that keeps MailU's containers
 * off port 25, and the outbound relay (Debian's Postfix: configuration checked by \`postconf\` and
 * \`postfix check\` before it is used) with its warm-up cap (./warmup-cap.ts: the policy's user and
 * state, the daily timer, and today's caps computed now when the plan changed). The NIC is the one the
 * default route leaves by.
 */
export function networkScript(): string {
  return `${WRITE_FILES}
nic="$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"
[ -n "$nic" ] || { echo "network: no IPv4 default route, so no network card to put the sending IPs on" >&2; exit 1; }
rendered="$(mktemp)"
sed "s/@NIC@/$nic/g" ${INTERFACES_TEMPLATE} > "$rendered"
if ! cmp -s "$rendered" ${INTERFACES_FILE}; then
  ifquery --interfaces="$rendered" --list >/dev/null
  old="$(awk '$1 == "address" { print $2 }' ${INTERFACES_FILE} 2>/dev/null || true)"
  new="$(awk '$1 == "address" { print $2 }' "$rendered")"
  for a in $old; do grep -qx "$a" <<<"$new" || ip addr del "$a" dev "$nic" 2>/dev/null || true; done
  for a in $new; do ip addr replace "$a" dev "$nic"; done
  install -m 0644 "$rendered" ${INTERFACES_FILE}
  echo "addresses on $nic: $(echo $new)"
fi
rm -f "$rendered"
if was_changed '${SYSCTL_FILE}'; then sysctl -q -p ${SYSCTL_FILE}; fi
if was_changed '${FIREWALL_RULES}'; then
  iptables-restore --test --noflush < ${FIREWALL_RULES}
  iptables -N DOCKER-USER 2>/dev/null || true
  iptables-restore --noflush < ${FIREWALL_RULES}
  iptables -C DOCKER-USER -j PM-MAILU-OUT 2>/dev/null || iptables -I DOCKER-USER -j PM-MAILU-OUT
  echo "firewall: MailU's containers reach port 25 only through the relay"
fi
if was_changed '${FIREWALL_UNIT}'; then systemctl daemon-reload; systemctl enable penguinmails-firewall.service; fi
id -u ${WARMUP_USER} >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${WARMUP_USER}
[ -d ${WARMUP_STATE} ] || install -d -o ${WARMUP_USER} -g ${WARMUP_USER} -m 0750 ${WARMUP_STATE}
chmod 0755 ${WARMUP_DIR}
if was_changed '/etc/postfix/*'; then
  postconf -n >/dev/null
  postfix check
  systemctl enable postfix
  if was_changed '${RELAY_MAIN_CF}' || was_changed '${RELAY_MASTER_CF}'; then systemctl restart postfix; echo "relay: restarted";
  else systemctl reload postfix; echo "relay: reloaded"; fi
fi
if was_changed '/etc/systemd/system/penguinmails-warmup.*'; then
  systemctl daemon-reload; systemctl enable ${WARMUP_TIMER}; systemctl start ${WARMUP_TIMER}
fi
if was_changed '${WARMUP_PLAN}' || was_changed '${WARMUP_JOB}' || [ ! -f ${WARMUP_CAPS} ]; then ${WARMUP_JOB}; fi
`;
}

/** Re-applies the firewall rules after a reboot, once Docker has made its chains. */
export function firewallUnit(): string {
  return `# Written by penguinmails-infra (MailuInstall): mail from MailU's containers only through the relay.
[Unit]
Description=penguinmails: MailU's containers reach port 25 only through the relay
After=docker.service
Wants=docker.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'iptables -N DOCKER-USER 2>/dev/null; iptables-restore --noflush < ${FIREWALL_RULES}; iptables -C DOCKER-USER -j PM-MAILU-OUT 2>/dev/null || iptables -I DOCKER-USER -j PM-MAILU-OUT'
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Creates the domains and the postmaster through MailU's CLI once the admin
 * container answers. `domain` is a no-op for an existing domain and `admin
 * --mode update` sets the password of an existing account, so a rerun is
 * harmless. stdin: `domain <name>` lines, `alias <local part> <domain> <destination>` lines (the DMARC
 * and TLS report addresses), then `admin <local part> <domain> <password>`.
 */
export function accountsScript(): string {
  return `set -euo pipefail
cd ${MAILU_DIR}
${COMPOSE}
admin() { dc exec -T admin flask mailu "$@"; }
for i in $(seq 1 60); do
  if admin --help >/dev/null 2>&1; then break; fi
  [ "$i" = 60 ] && { echo "MailU's admin container did not answer within 5 minutes" >&2; exit 1; }
  sleep 5
done
while read -r kind a b c; do
  case "$kind" in
    domain) admin domain "$a" >/dev/null; echo "domain $a: present" ;;
    # \`alias\` has no existence check (2024.06 manage.py): delete, then create.
    alias) admin alias-delete "$a@$b" >/dev/null; admin alias "$a" "$b" "$c" >/dev/null; echo "alias $a@$b: to $c" ;;
    admin) admin admin "$a" "$b" "$c" --mode update >/dev/null; echo "postmaster $a@$b: present" ;;
    "") ;;
    *) echo "unknown line kind '$kind'" >&2; exit 2 ;;
  esac
done
`;
}

/**
 * Imports the mailboxes that changed, in one call of MailU's declarative import (the document,
 * providers/ssh/mailboxes.ts importDocument, arrives on stdin and is held in memory, never written
 * to a file). Run in the admin container with `docker exec -i`, as MailU 2024.06 docs/cli.rst
 * "config-import" says to ("docker compose exec does not pass stdin correctly"); `-u` merges into
 * the existing config (without it the import replaces the whole config), `-q` prints only errors.
 */
export function mailboxImportScript(): string {
  return `set -euo pipefail
doc="$(cat)"
cd ${MAILU_DIR}
${COMPOSE}
for i in $(seq 1 60); do
  if dc exec -T admin flask mailu --help </dev/null >/dev/null 2>&1; then break; fi
  [ "$i" = 60 ] && { echo "MailU's admin container did not answer within 5 minutes" >&2; exit 1; }
  sleep 5
done
admin_id="$(dc ps -q admin)"
printf '%s\\n' "$doc" | docker exec -i "$admin_id" flask mailu config-import -u -q -
echo "mailboxes: imported $(printf '%s\\n' "$doc" | grep -c '^  - email:' || true) and removed $(printf '%s\\n' "$doc" | grep -c '^  - -email:' || true)"
`;
}

/** The report addresses DMARC (rua) and TLS-RPT name for each domain (mail-records.ts): aliases to the postmaster. */
export const REPORT_LOCAL_PARTS = ["dmarc-reports", "tls-reports"] as const;

export function accountsInput(domains: string[], postmaster: string, password: string): string {
  const to = `${postmaster}@${domains[0]}`;
  return [
    ...domains.map((d) => `domain ${d}`),
    ...domains.flatMap((d) => REPORT_LOCAL_PARTS.map((l) => `alias ${l} ${d} ${to}`)),
    `admin ${postmaster} ${domains[0]} ${password}`,
    "",
  ].join("\n");
}
