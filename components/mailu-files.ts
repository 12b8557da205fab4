/**
 * The files MailuInstall writes on a server, as pure functions so tests can
 * check them exactly: `mailu.env`, `docker-compose.yml` (MailU pinned to one
 * 2024.06 release), the postfix override, the netplan file that puts the
 * sending IPs on the NIC, and the SNAT rules that send mail out through them.
 *
 * Outbound IPs (../shared/reference/mailu-and-dns.md §4): postfix runs in a
 * bridge container, so `smtp_bind_address` inside it fails ("Address not
 * available", MailU #2219). Mail leaves through the host: with one sending
 * IP, Docker's `com.docker.network.host_ipv4` on the bridge makes Docker SNAT
 * the stack to it; with several, host rules spread new SMTP connections
 * from the stack's subnet over them, round robin.
 */
import { DKIM_SELECTOR, HOSTNAME, IPV4 } from "../providers/model/names";

/** The MailU release every server runs; bump it deliberately, with a reviewed diff. */
export const MAILU_VERSION = "2024.06.57";
export const MAILU_SUBNET = "192.168.203.0/24";

export interface MailuConfig {
  domain: string;
  /** Host names the server answers as; the first is its SMTP banner and must equal its main IP's rDNS. */
  hostnames: string[];
  mainIp: string;
  sendingIps: string[];
  dkimSelector: string;
  /** letsencrypt only once the A records exist; `cert` until then. */
  tlsFlavor: "letsencrypt" | "cert";
  /** Messages per day a sending account may send (MailU's default of 200/day is too low for senders). */
  messagesPerDay: number;
  /** Secrets: they are written to the server, never printed. */
  secretKey: string;
  apiToken: string;
}

export class MailuConfigError extends Error {
  override readonly name = "MailuConfigError";
}

/** Refuses values that could break out of an env line or a YAML scalar. */
export function checkMailuConfig(c: MailuConfig): void {
  const problems: string[] = [];
  if (!HOSTNAME.test(c.domain)) problems.push(`domain "${c.domain}" is not a lowercase domain name`);
  if (c.hostnames.length === 0) problems.push("at least one host name is needed");
  for (const h of c.hostnames) if (!HOSTNAME.test(h)) problems.push(`host name "${h}" is not a lowercase host name`);
  for (const ip of [c.mainIp, ...c.sendingIps]) if (!IPV4.test(ip)) problems.push(`"${ip}" is not an IPv4 address`);
  if (!DKIM_SELECTOR.test(c.dkimSelector)) problems.push(`DKIM selector "${c.dkimSelector}" is not valid`);
  if (!Number.isInteger(c.messagesPerDay) || c.messagesPerDay < 1) problems.push("messagesPerDay must be a whole number above 0");
  for (const [k, v] of [
    ["secretKey", c.secretKey],
    ["apiToken", c.apiToken],
  ] as const) {
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(v))
      problems.push(`${k} must be 16-128 letters, digits, - or _ (it is generated; do not set it by hand)`);
  }
  if (problems.length) throw new MailuConfigError(`MailU config for ${c.domain}: ${problems.join("; ")}`);
}

/** The network files need only the addresses (and carry no secrets). */
function checkSendingIps(c: Pick<MailuConfig, "sendingIps">): void {
  const bad = c.sendingIps.filter((ip) => !IPV4.test(ip));
  if (bad.length) throw new MailuConfigError(`sending IPs: ${bad.map((ip) => `"${ip}" is not an IPv4 address`).join("; ")}`);
}

export function mailuEnv(c: MailuConfig): string {
  checkMailuConfig(c);
  const lines: Array<[string, string]> = [
    ["SECRET_KEY", c.secretKey],
    ["SUBNET", MAILU_SUBNET],
    ["DOMAIN", c.domain],
    ["HOSTNAMES", c.hostnames.join(",")],
    ["POSTMASTER", "admin"],
    ["TLS_FLAVOR", c.tlsFlavor],
    ["AUTH_RATELIMIT_IP", "60/hour"],
    ["AUTH_RATELIMIT_USER", "100/day"],
    ["DISABLE_STATISTICS", "True"],
    ["ADMIN", "true"],
    ["WEBMAIL", "none"],
    ["API", "true"],
    ["API_TOKEN", c.apiToken],
    ["WEBDAV", "none"],
    ["ANTIVIRUS", "none"],
    ["MESSAGE_SIZE_LIMIT", "50000000"],
    ["MESSAGE_RATELIMIT", `${c.messagesPerDay}/day`],
    ["DMARC_RUA", "dmarc-reports"],
    ["DMARC_RUF", "dmarc-reports"],
    ["DKIM_SELECTOR", c.dkimSelector],
    ["DKIM_PATH", "/dkim/{domain}.{selector}.key"],
    ["OUTBOUND_TLS_LEVEL", "dane"],
    ["LOG_DRIVER", "journald"],
    ["COMPOSE_PROJECT_NAME", "mailu"],
  ];
  return `# Written by penguinmails-infra (MailuInstall); changes here are overwritten.\n${lines.map(([k, v]) => `${k}=${v}`).join("\n")}\n`;
}

export function composeFile(c: MailuConfig): string {
  checkMailuConfig(c);
  const image = (name: string) => `ghcr.io/mailu/${name}:${MAILU_VERSION}`;
  const ports = [25, 80, 443, 465, 587, 993, 4190].map((p) => `      - "${c.mainIp}:${p}:${p}"`).join("\n");
  const service = (name: string, img: string, extra = "") =>
    `  ${name}:\n    image: ${image(img)}\n    restart: always\n    env_file: mailu.env\n    logging:\n      driver: journald\n${extra}`;
  const singleIp = c.sendingIps.length === 1;
  return [
    "# Written by penguinmails-infra (MailuInstall); changes here are overwritten.",
    "services:",
    "  redis:\n    image: redis:7-alpine\n    restart: always\n    volumes:\n      - /mailu/redis:/data",
    service(
      "front",
      "nginx",
      `    ports:\n${ports}\n    volumes:\n      - /mailu/certs:/certs\n      - /mailu/overrides/nginx:/overrides:ro\n`,
    ),
    service("resolver", "unbound", `    networks:\n      default:\n        ipv4_address: 192.168.203.254\n`),
    service(
      "admin",
      "admin",
      `    volumes:\n      - /mailu/data:/data\n      - /mailu/dkim:/dkim\n    depends_on:\n      - redis\n      - resolver\n    dns:\n      - 192.168.203.254\n`,
    ),
    service("imap", "dovecot", `    volumes:\n      - /mailu/mail:/mail\n      - /mailu/overrides/dovecot:/overrides:ro\n`),
    service(
      "smtp",
      "postfix",
      `    volumes:\n      - /mailu/mailqueue:/queue\n      - /mailu/overrides/postfix:/overrides:ro\n    dns:\n      - 192.168.203.254\n`,
    ),
    service(
      "antispam",
      "rspamd",
      `    volumes:\n      - /mailu/filter:/var/lib/rspamd\n      - /mailu/overrides/rspamd:/overrides:ro\n    dns:\n      - 192.168.203.254\n`,
    ),
    "networks:",
    "  default:",
    "    driver: bridge",
    ...(singleIp ? ["    driver_opts:", `      com.docker.network.host_ipv4: "${c.sendingIps[0]}"`] : []),
    "    ipam:",
    "      driver: default",
    "      config:",
    `        - subnet: ${MAILU_SUBNET}`,
    "",
  ].join("\n");
}

/** Postfix settings (fed to `postconf -e` by MailU): the banner names the host the main IP's rDNS names. */
export function postfixOverride(c: MailuConfig): string {
  checkMailuConfig(c);
  return [`myhostname = ${c.hostnames[0]}`, `smtp_helo_name = ${c.hostnames[0]}`, "smtp_tls_security_level = may", ""].join("\n");
}

/** Netplan: the sending IPs as extra addresses on the NIC, next to the main IP. */
export function netplanFile(c: Pick<MailuConfig, "sendingIps">, nic = "eth0"): string {
  checkSendingIps(c);
  return [
    "# Written by penguinmails-infra (MailuInstall): the server's sending IPs.",
    "network:",
    "  version: 2",
    "  ethernets:",
    `    ${nic}:`,
    "      addresses:",
    ...c.sendingIps.map((ip) => `        - ${ip}/32`),
    "",
  ].join("\n");
}

/**
 * The outbound script. With several sending IPs: SNAT new SMTP connections
 * from the MailU subnet round robin over them (iptables `statistic --mode
 * nth`). With one, Docker does it (host_ipv4) and the script removes rules a
 * larger set left behind. Idempotent: the chain is flushed and rebuilt.
 */
export function snatRules(c: Pick<MailuConfig, "sendingIps">): string {
  checkSendingIps(c);
  const jump = `POSTROUTING -s ${MAILU_SUBNET} -p tcp --dport 25 -m conntrack --ctstate NEW -j PM_SENDING`;
  if (c.sendingIps.length <= 1) {
    return [
      "set -eu",
      "# One sending IP: Docker's host_ipv4 picks it; no rules of ours.",
      `iptables -t nat -D ${jump} 2>/dev/null || true`,
      "iptables -t nat -F PM_SENDING 2>/dev/null || true",
      "iptables -t nat -X PM_SENDING 2>/dev/null || true",
      "",
    ].join("\n");
  }
  const n = c.sendingIps.length;
  const rules = c.sendingIps.map((ip, i) =>
    i < n - 1
      ? `iptables -t nat -A PM_SENDING -m statistic --mode nth --every ${n - i} --packet 0 -j SNAT --to-source ${ip}`
      : `iptables -t nat -A PM_SENDING -j SNAT --to-source ${ip}`,
  );
  return [
    "set -eu",
    "iptables -t nat -N PM_SENDING 2>/dev/null || iptables -t nat -F PM_SENDING",
    ...rules,
    `iptables -t nat -C ${jump} 2>/dev/null || iptables -t nat -I ${jump}`,
    "",
  ].join("\n");
}

/** A short hash of a file's content: the install compares it to restart only what reads a changed file. */
