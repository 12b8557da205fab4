/**
 * How mail leaves a server: each sending IP is an identity (its own PTR, a
 * HELO equal to it), and each sending domain leaves from one IP.
 *
 * MailU's postfix runs in a bridge container, where binding to a host
 * address fails ("Address not available", MailU #2219; reference §4), so
 * MailU hands every outgoing message (`RELAYHOST`) to Debian's Postfix on the
 * host, listening only on the MailU network's gateway address. That relay
 * is the standard Postfix setup for per-sender source addresses:
 * `sender_dependent_default_transport_maps` picks, by the envelope sender's
 * domain, one `smtp` transport per IP (master.cf `-o smtp_bind_address=<IP>
 * -o smtp_helo_name=<its PTR>`; postconf(5), master(5)). A sender domain
 * with no entry is deferred (`retry`), never sent from the main IP; MailU's
 * containers are kept from reaching port 25 directly (DOCKER-USER, the chain
 * Docker leaves to the administrator). All pure functions: the engine test
 * runs a real Postfix on exactly these files. Each IP's daily warm-up cap is enforced on this relay too
 * (./warmup-cap.ts).
 */
import { createHash } from "crypto";
import { HOSTNAME, IPV4 } from "../providers/model/names";
import { warmupMainCf, warmupMasterCf } from "./warmup-cap";

/** MailU's docker network (mailu.env SUBNET) and the relay's address on it: the bridge's gateway. */
export const MAILU_SUBNET = "192.168.203.0/24";
export const RELAY_ADDRESS = "192.168.203.1";
/** The Linux bridge Docker makes for MailU's network (compose driver_opts). */
export const MAILU_BRIDGE = "mailu0";

/** One IP of the server that can send: its slot name (`mx1-ip2`, `mx1-standby1`), address and PTR name. */
export interface OutboundIp {
  slot: string;
  ip: string;
  hostname: string;
}

export interface RelayConfig {
  /** The server's host name (the relay's own name; never a HELO to the world). */
  hostname: string;
  /** Sending IPs, in slot order. */
  sending: OutboundIp[];
  /** Standby IPs: transports ready, used for a paused IP's domains. */
  standby: OutboundIp[];
  /** Sending IPs taken out of use. */
  paused: string[];
  /** Sending domains; the first also takes bounces (null sender). */
  domains: string[];
  /** Explicit domain → sending slot number (1-based); the rest are spread. */
  domainIps?: Record<string, number>;
}

export class RelayConfigError extends Error {
  override readonly name = "RelayConfigError";
}

/** Postfix service names: letters, digits and dashes. */
export const transportName = (slot: string) => `pm-${slot}`;

/**
 * Rendezvous hashing: each domain takes the slot with the highest hash of (domain, slot name). Adding or
 * removing a slot moves only the domains that hashed to it, and replacing a slot's IP (retirement)
 * moves nothing, since slot names stay.
 */
function spread(domain: string, slots: OutboundIp[]): OutboundIp {
  const score = (s: OutboundIp) => createHash("sha256").update(`${domain}\n${s.slot}`).digest().readUInt32BE(0);
  return slots.reduce((best, s) => (score(s) > score(best) ? s : best));
}

/**
 * The spread of the domains no map names, so that every sending IP carries at least one domain
 * whenever there are at least as many domains as sending IPs, and no two share an IP while one is
 * empty (an IP that carries none is billed, in SPF and warming up, and sends nothing): the
 * rendezvous choice first, then, while a slot is empty, the domain (from a slot that keeps another)
 * with the highest hash for an empty slot moves there.
 * Only moves into an empty slot happen, so adding a slot still moves only domains that go to it.
 */
function balancedSpread(c: RelayConfig): Map<string, OutboundIp> {
  const at = new Map<string, OutboundIp>();
  const fixed = (d: string) => c.domainIps?.[d] !== undefined;
  for (const d of c.domains) at.set(d, fixed(d) ? c.sending[c.domainIps![d] - 1] : spread(d, c.sending));
  const score = (d: string, s: OutboundIp) => createHash("sha256").update(`${d}\n${s.slot}`).digest().readUInt32BE(0);
  for (;;) {
    const load = (s: OutboundIp) => c.domains.filter((d) => at.get(d) === s).length;
    const empty = c.sending.filter((s) => load(s) === 0);
    const movable = c.domains.filter((d) => !fixed(d) && load(at.get(d)!) > 1);
    if (!empty.length || !movable.length) return at;
    let best = { d: movable[0], s: empty[0], score: -1 };
    for (const s of empty) for (const d of movable) if (score(d, s) > best.score) best = { d, s, score: score(d, s) };
    at.set(best.d, best.s);
  }
}

/**
 * Which IP each domain leaves from: its configured slot or the (balanced) spread; a paused IP's domains go to the
 * standby that takes its place (the k-th paused sending IP → the k-th standby, as the outbound rotation
 * does), or, with no standby left, are spread over the IPs still sending.
 */
export function domainRoutes(c: RelayConfig): Array<{ domain: string; via: OutboundIp }> {
  checkRelayConfig(c);
  const active = c.sending.filter((s) => !c.paused.includes(s.ip));
  const pausedInOrder = c.sending.filter((s) => c.paused.includes(s.ip));
  const chosenOf = balancedSpread(c);
  return c.domains.map((domain) => {
    const chosen = chosenOf.get(domain)!;
    if (!c.paused.includes(chosen.ip)) return { domain, via: chosen };
    const standby = c.standby[pausedInOrder.indexOf(chosen)];
    if (standby) return { domain, via: standby };
    if (!active.length)
      throw new RelayConfigError(
        `server ${c.hostname}: every sending IP is paused and no standby IP is left for ${domain}; add standbyIps or unpause one`,
      );
    return { domain, via: spread(domain, active) };
  });
}

/** The IPs mail could leave from (sending, not paused; standbys in a paused IP's place) that carry no domain: billed and sending nothing. */
export function idleIps(c: RelayConfig): OutboundIp[] {
  const used = new Set(domainRoutes(c).map((r) => r.via.slot));
  const pausedCount = c.sending.filter((s) => c.paused.includes(s.ip)).length;
  const live = [...c.sending.filter((s) => !c.paused.includes(s.ip)), ...c.standby.slice(0, pausedCount)];
  return live.filter((s) => !used.has(s.slot));
}

function checkRelayConfig(c: RelayConfig): void {
  const problems: string[] = [];
  if (!HOSTNAME.test(c.hostname)) problems.push(`host name "${c.hostname}" is not a lowercase host name`);
  for (const s of [...c.sending, ...c.standby]) {
    if (!IPV4.test(s.ip)) problems.push(`${s.slot}: "${s.ip}" is not an IPv4 address`);
    if (!HOSTNAME.test(s.hostname)) problems.push(`${s.slot}: "${s.hostname}" is not a host name`);
    if (!/^[a-z0-9-]{1,40}$/.test(s.slot)) problems.push(`slot name "${s.slot}" is not lowercase letters, digits and dashes`);
  }
  for (const d of c.domains) if (!HOSTNAME.test(d)) problems.push(`domain "${d}" is not a lowercase domain name`);
  if (!c.sending.length && c.domains.length) problems.push("there is no sending IP to send from");
  for (const [d, n] of Object.entries(c.domainIps ?? {})) {
    if (!c.domains.includes(d)) problems.push(`domainIps names ${d}, which is not a sending domain`);
    if (!Number.isInteger(n) || n < 1 || n > c.sending.length)
      problems.push(`domainIps.${d} is ${n}: expected a sending IP number from 1 to ${c.sending.length}`);
  }
  if (problems.length) throw new RelayConfigError(`outbound relay on ${c.hostname}: ${problems.join("; ")}`);
}

const HEADER = "# Written by penguinmails-infra (MailuInstall): the outbound relay; changes here are overwritten.";

/** /etc/postfix/main.cf of the relay. */
export function relayMainCf(c: Pick<RelayConfig, "hostname">): string {
  if (!HOSTNAME.test(c.hostname)) throw new RelayConfigError(`outbound relay: host name "${c.hostname}" is not a lowercase host name`);
  return [
    HEADER,
    "compatibility_level = 3.6",
    // Not the server's host name: MailU's Postfix has that one (HOSTNAMES' first), and a Postfix client refuses a
    // server that greets with its own name ("mail for [relay]:25 loops back to myself", 5.4.6): seen with Debian's
    // Postfix as MailU's smtp in scripts/dev/mailu-submission.ts. The world never sees it (each transport's HELO is its PTR).
    `myhostname = relay.${c.hostname}`,
    "myorigin = $myhostname",
    "# Relay only: no local mail, nothing accepted from outside MailU's network.",
    "mydestination =",
    "local_recipient_maps =",
    "alias_maps =",
    "alias_database =",
    "local_transport = error:5.1.1 this host relays only",
    "# Postfix refuses to start when inet_interfaces names an address no interface has yet (the bridge, at boot),",
    "# so the listener's address is in master.cf and bound early (ip_nonlocal_bind).",
    "inet_interfaces = loopback-only",
    "inet_protocols = ipv4",
    `mynetworks = 127.0.0.0/8 ${MAILU_SUBNET}`,
    "smtpd_relay_restrictions = permit_mynetworks, reject",
    "smtpd_recipient_restrictions = permit_mynetworks, reject",
    "smtpd_banner = $myhostname ESMTP",
    "message_size_limit = 50000000",
    "# Each sender domain leaves through its IP's transport (master.cf); no entry: held, never sent from the main IP.",
    "sender_dependent_default_transport_maps = texthash:/etc/postfix/sender-transports",
    "default_transport = retry:4.3.5 no sending IP is configured for this sender domain",
    ...warmupMainCf(),
    "smtp_tls_security_level = may",
    "smtp_tls_CApath = /etc/ssl/certs",
    "",
  ].join("\n");
}

/** /etc/postfix/master.cf: Postfix's standard services (not chrooted) and one smtp transport per IP. */
export function relayMasterCf(c: Pick<RelayConfig, "sending" | "standby" | "hostname">): string {
  checkRelayConfig({ hostname: c.hostname, sending: c.sending, standby: c.standby, paused: [], domains: [] });
  const svc = (name: string, type: string, priv: string, chroot: string, wakeup: string, maxproc: string, command: string) =>
    `${name.padEnd(10)} ${type.padEnd(5)} ${priv.padEnd(7)} -       ${chroot.padEnd(7)} ${wakeup.padEnd(7)} ${maxproc.padEnd(7)} ${command}`;
  return [
    HEADER,
    "# service  type  private unpriv  chroot  wakeup  maxproc command + args",
    svc(`${RELAY_ADDRESS}:smtp`, "inet", "n", "n", "-", "-", "smtpd"),
    svc("pickup", "unix", "n", "n", "60", "1", "pickup"),
    svc("cleanup", "unix", "n", "n", "-", "0", "cleanup"),
    svc("qmgr", "unix", "n", "n", "300", "1", "qmgr"),
    svc("tlsmgr", "unix", "-", "n", "1000?", "1", "tlsmgr"),
    svc("rewrite", "unix", "-", "n", "-", "-", "trivial-rewrite"),
    svc("bounce", "unix", "-", "n", "-", "0", "bounce"),
    svc("defer", "unix", "-", "n", "-", "0", "bounce"),
    svc("trace", "unix", "-", "n", "-", "0", "bounce"),
    svc("verify", "unix", "-", "n", "-", "1", "verify"),
    svc("flush", "unix", "n", "n", "1000?", "0", "flush"),
    svc("proxymap", "unix", "-", "n", "-", "-", "proxymap"),
    svc("proxywrite", "unix", "-", "n", "-", "1", "proxymap"),
    svc("smtp", "unix", "-", "n", "-", "-", "smtp"),
    svc("relay", "unix", "-", "n", "-", "-", "smtp"),
    svc("showq", "unix", "n", "n", "-", "-", "showq"),
    svc("error", "unix", "-", "n", "-", "-", "error"),
    svc("retry", "unix", "-", "n", "-", "-", "error"),
    svc("discard", "unix", "-", "n", "-", "-", "discard"),
    svc("local", "unix", "-", "n", "-", "-", "local"),
    svc("anvil", "unix", "-", "n", "-", "1", "anvil"),
    svc("scache", "unix", "-", "n", "-", "1", "scache"),
    svc("postlog", "unix-dgram", "n", "n", "-", "1", "postlogd"),
    ...warmupMasterCf(),
    "# One transport per IP: its address and a HELO equal to its PTR.",
    ...[...c.sending, ...c.standby].flatMap((s) => [
      svc(transportName(s.slot), "unix", "-", "n", "-", "-", "smtp"),
      `  -o smtp_bind_address=${s.ip}`,
      `  -o smtp_helo_name=${s.hostname}`,
      `  -o syslog_name=postfix/${transportName(s.slot)}`,
    ]),
    "",
  ].join("\n");
}

/** /etc/postfix/sender-transports: `@domain transport:` per sending domain; `<>` (bounces) as the first domain. */
export function senderTransports(c: RelayConfig): string {
  const routes = domainRoutes(c);
  const lines = routes.map((r) => `@${r.domain} ${transportName(r.via.slot)}:`);
  if (routes.length) lines.push(`<> ${transportName(routes[0].via.slot)}:`);
  return [HEADER.replace("the outbound relay", "which IP each sender domain leaves from"), ...lines, ""].join("\n");
}

/** The sending and standby IPs on the NIC, for ifupdown (interfaces(5): several iface stanzas for one interface add up). `@NIC@` is the card the default route uses, found on the server. */
export function interfacesFile(ips: string[]): string {
  const bad = ips.filter((ip) => !IPV4.test(ip));
  if (bad.length) throw new RelayConfigError(`sending IPs: ${bad.map((ip) => `"${ip}" is not an IPv4 address`).join("; ")}`);
  return [
    "# Written by penguinmails-infra (MailuInstall): the server's sending and standby IPs.",
    ...ips.flatMap((ip) => ["iface @NIC@ inet static", `    address ${ip}/32`]),
    "",
  ].join("\n");
}

/** Kernel settings: the relay may bind its address before Docker has made the bridge (at boot). */
export const relaySysctl = () =>
  "# Written by penguinmails-infra: Postfix binds the MailU bridge's gateway before Docker creates it.\nnet.ipv4.ip_nonlocal_bind = 1\n";

/** iptables-restore input: MailU's containers may not reach port 25 themselves (only through the relay). */
export function firewallRules(): string {
  return [
    "# Written by penguinmails-infra: mail from MailU's containers leaves only through the relay.",
    "*filter",
    ":PM-MAILU-OUT - [0:0]",
    "-F PM-MAILU-OUT",
    `-A PM-MAILU-OUT -s ${MAILU_SUBNET} -p tcp --dport 25 -j REJECT --reject-with tcp-reset`,
    "-A PM-MAILU-OUT -j RETURN",
    "COMMIT",
    "",
  ].join("\n");
}
