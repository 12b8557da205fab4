/**
 * The files MailuInstall writes for MailU on a server, as pure functions so
 * tests can check them exactly: `mailu.env`, `docker-compose.yml` (MailU
 * pinned to one 2024.06 release), the postfix override, and the nginx
 * override that serves the MTA-STS policy.
 *
 * MailU sends nothing itself: every outgoing message goes to the host's
 * relay (RELAYHOST), which picks the sending IP (./outbound-relay.ts). So
 * MailU's files name no sending IP, and adding or pausing one never touches
 * MailU.
 */
import { DKIM_SELECTOR, HOSTNAME, IPV4 } from "../providers/model/names";
import { MAILU_BRIDGE, MAILU_SUBNET, RELAY_ADDRESS } from "./outbound-relay";
import { MTA_STS_MAX_AGE, mtaStsPolicy } from "./mail-records";

/** The MailU release every server runs; bump it deliberately, with a reviewed diff. */
export const MAILU_VERSION = "2024.06.57";
export { MAILU_SUBNET };
/**
 * The ports MailU opens (mailu.env PORTS; 2024.06's default leaves out 587: core/base/libs/socrate
 * system.py ALL_PORTS), published on the main IP, and announced in SRV records (mail-records.ts).
 */
export const MAIL_PORTS = [25, 80, 443, 465, 587, 993, 4190] as const;

export interface MailuConfig {
  domain: string;
  /** Host names the server answers as; the first is its SMTP banner and must equal its main IP's rDNS. */
  hostnames: string[];
  mainIp: string;
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
  if (!IPV4.test(c.mainIp)) problems.push(`main IP "${c.mainIp}" is not an IPv4 address`);
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
    ["PORTS", MAIL_PORTS.join(",")],
    // Every outgoing message to the host's relay, which sends it from the sender domain's IP.
    ["RELAYHOST", `[${RELAY_ADDRESS}]:25`],
    ["LOG_DRIVER", "journald"],
    ["COMPOSE_PROJECT_NAME", "mailu"],
  ];
  return `# Written by penguinmails-infra (MailuInstall); changes here are overwritten.\n${lines.map(([k, v]) => `${k}=${v}`).join("\n")}\n`;
}

export function composeFile(c: MailuConfig): string {
  checkMailuConfig(c);
  const image = (name: string) => `ghcr.io/mailu/${name}:${MAILU_VERSION}`;
  const ports = MAIL_PORTS.map((p) => `      - "${c.mainIp}:${p}:${p}"`).join("\n");
  const service = (name: string, img: string, extra = "") =>
    `  ${name}:\n    image: ${image(img)}\n    restart: always\n    env_file: mailu.env\n    logging:\n      driver: journald\n${extra}`;
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
    "    driver_opts:",
    `      com.docker.network.bridge.name: ${MAILU_BRIDGE}`,
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

/**
 * The MTA-STS policy (RFC 8461 §3.2), served by MailU's front at https://mta-sts.<domain>/.well-known/mta-sts.txt
 * for every domain: nginx includes /overrides/*.conf in its HTTPS server (2024.06 core/nginx/conf/nginx.conf),
 * and mta-sts.<domain> is among HOSTNAMES, so the certificate names it (MailU FAQ, reference §3).
 */
export function mtaStsOverride(mxHosts: string[], maxAgeSeconds = MTA_STS_MAX_AGE): string {
  let policy: string;
  try {
    policy = mtaStsPolicy(mxHosts, maxAgeSeconds);
  } catch (e) {
    throw new MailuConfigError((e as Error).message);
  }
  // An nginx string: its parser turns \r and \n back into CR and LF (src/core/ngx_conf_file.c, ngx_conf_read_token).
  const quoted = policy.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r/g, "\\r").replace(/\n/g, "\\n");
  return [
    "# Written by penguinmails-infra (MailuInstall): the MTA-STS policy of every domain this server receives for.",
    "location = /.well-known/mta-sts.txt {",
    "  default_type text/plain;",
    `  return 200 "${quoted}";`,
    "}",
    "",
  ].join("\n");
}
