/**
 * The DNS records of one sending domain, as pure functions: what MailDomain
 * publishes, and what tests check for exact content. Formats follow MailU's
 * generated records and RFCs 7208 (SPF), 6376 (DKIM), 7489 (DMARC), 6186
 * (SRV for mail clients), 8461 (MTA-STS) and 8460 (TLS-RPT); see
 * ../shared/reference/mailu-and-dns.md §3. Mail host A records are never
 * proxied: Cloudflare proxies only HTTP(S).
 */
import { createHash } from "crypto";
import { HOSTNAME, IPV4 } from "../providers/model/names";

export type RecordType = "A" | "MX" | "TXT" | "CNAME" | "SRV";
export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}
export interface MailRecord {
  type: RecordType;
  name: string;
  /** For SRV, Cloudflare takes `data` and derives the content. */
  content: string;
  ttl: number;
  priority?: number;
  data?: SrvData;
  proxied: false;
}

export type DmarcPolicy = "none" | "quarantine" | "reject";

export interface MailHost {
  hostname: string;
  ip: string;
}
export interface MailDomainSpec {
  /** The sending domain, e.g. acme-mail.com. */
  domain: string;
  /** The host MX points at and mail clients use (a server's host name). */
  mailHost: string;
  /**
   * Every host name that must resolve: servers' main IPs and each sending IP's own name (empty for a
   * domain whose hosts live in another). An ip of "" is a pending IP order: its A record has content
   * "" and waits, unpublished (providers/cloudflare/dns-record.ts).
   */
  hosts: MailHost[];
  /** IPs that send mail for the domain: all of them must be in SPF. */
  sendingIps: string[];
  dkim: { selector: string; publicKeyBase64: string };
  dmarcPolicy: DmarcPolicy;
  /** Local part receiving DMARC and TLS reports (default "dmarc-reports" / "tls-reports"). */
  reportsTo?: { dmarc?: string; tls?: string };
  ttl?: number;
}

export class MailRecordError extends Error {
  override readonly name = "MailRecordError";
}

export const SPF_LOOKUP_LIMIT = 10;

/** DNS-querying SPF terms (RFC 7208 §4.6.4): include, a, mx, ptr, exists and the redirect modifier. */
export function countSpfLookups(spf: string): number {
  return spf
    .split(/\s+/)
    .slice(1)
    .filter((t) => /^[+\-~?]?(include:|a($|[:/])|mx($|[:/])|ptr($|:)|exists:)|^redirect=/i.test(t)).length;
}

/** SPF that authorizes the domain's MX host and every sending IP by address (no lookups per IP). */
export function spfRecord(domain: string, sendingIps: string[], ttl = 300): MailRecord {
  const bad = sendingIps.filter((ip) => !IPV4.test(ip));
  if (bad.length) throw new MailRecordError(`SPF for ${domain}: not IPv4 addresses: ${bad.join(", ")}`);
  const content = ["v=spf1", "mx", ...[...new Set(sendingIps)].map((ip) => `ip4:${ip}`), "-all"].join(" ");
  const lookups = countSpfLookups(content);
  if (lookups > SPF_LOOKUP_LIMIT)
    throw new MailRecordError(`SPF for ${domain} needs ${lookups} DNS lookups; receivers stop at ${SPF_LOOKUP_LIMIT}`);
  return { type: "TXT", name: domain, content, ttl, proxied: false };
}

/**
 * SPF for a host name used as HELO (RFC 7208 §2.3, §2.4): mail with an empty return path (bounces,
 * delivery reports) is judged by the HELO identity alone, so each sending IP's own name (its PTR
 * and HELO, `mx1-ip2.<domain>`) authorizes exactly its own address, and so does each server's
 * host name for its main IP.
 */
export function heloSpfRecord(host: MailHost, ttl = 300): MailRecord {
  if (!IPV4.test(host.ip)) throw new MailRecordError(`SPF for HELO name ${host.hostname}: "${host.ip}" is not an IPv4 address`);
  return { type: "TXT", name: host.hostname, content: `v=spf1 ip4:${host.ip} -all`, ttl, proxied: false };
}

/** DKIM public key record. One unquoted string: Cloudflare splits TXT values over 255 bytes itself. */
export function dkimRecord(domain: string, selector: string, publicKeyBase64: string, ttl = 300): MailRecord {
  if (!/^[A-Za-z0-9+/]+=*$/.test(publicKeyBase64))
    throw new MailRecordError(`DKIM for ${domain}: the public key must be base64 (DER SubjectPublicKeyInfo)`);
  return { type: "TXT", name: `${selector}._domainkey.${domain}`, content: `v=DKIM1; k=rsa; p=${publicKeyBase64}`, ttl, proxied: false };
}

export function dmarcRecord(domain: string, policy: DmarcPolicy, rua: string, ttl = 300): MailRecord {
  if (!["none", "quarantine", "reject"].includes(policy))
    throw new MailRecordError(`DMARC for ${domain}: policy must be none, quarantine or reject, not "${policy}"`);
  return { type: "TXT", name: `_dmarc.${domain}`, content: `v=DMARC1; p=${policy}; rua=mailto:${rua}; fo=1`, ttl, proxied: false };
}

/** How long senders may cache the MTA-STS policy (RFC 8461 §3.2 max_age, seconds): one week. */
export const MTA_STS_MAX_AGE = 604800;

/**
 * The MTA-STS policy file (RFC 8461 §3.2): `key: value` lines ending in CRLF, served at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt (./mailu-files.ts serves it through MailU's front).
 */
export function mtaStsPolicy(mxHosts: string[], maxAgeSeconds = MTA_STS_MAX_AGE): string {
  for (const h of mxHosts) if (!HOSTNAME.test(h)) throw new MailRecordError(`MTA-STS: MX host "${h}" is not a host name`);
  return ["version: STSv1", "mode: enforce", ...mxHosts.map((h) => `mx: ${h}`), `max_age: ${maxAgeSeconds}`, ""].join("\r\n");
}

/**
 * The `_mta-sts` TXT id: a hash of the policy text itself, so it changes whenever the policy does
 * (RFC 8461 §3.1: the id "MUST uniquely identify a given instance of a policy"). `verify` recomputes it
 * from the policy served.
 */
export const mtaStsId = (policy: string) => createHash("sha256").update(policy).digest("hex").slice(0, 20);

/**
 * The names of a domain that mail clients reach over HTTPS at the mail host, each a CNAME to it:
 * Thunderbird's autoconfig, Outlook's autodiscover (the `_autodiscover._tcp` SRV points clients to
 * port 443 too) and MTA-STS (RFC 8461 §3.3: the policy host needs a valid certificate). MailU asks
 * Let's Encrypt for a certificate naming exactly its HOSTNAMES, so every one of these must be there
 * (MailU docs releases.rst: "add the autoconfig host to HOSTNAMES"); `verify` checks the served one.
 */
export const webHostnames = (domain: string): string[] => [`autoconfig.${domain}`, `autodiscover.${domain}`, `mta-sts.${domain}`];

/** Every record of a sending domain, in a stable order. */
export function mailDomainRecords(spec: MailDomainSpec): MailRecord[] {
  const { domain, mailHost } = spec;
  const ttl = spec.ttl ?? 300;
  const problems: string[] = [];
  if (!HOSTNAME.test(domain)) problems.push(`domain "${domain}" is not a lowercase domain name`);
  if (!HOSTNAME.test(mailHost)) problems.push(`mail host "${mailHost}" is not a lowercase host name`);
  for (const h of spec.hosts) {
    if (!HOSTNAME.test(h.hostname)) problems.push(`host "${h.hostname}" is not a lowercase host name`);
    // "" is an IP order still pending: its A record waits (published by the run that gets the address).
    if (h.ip !== "" && !IPV4.test(h.ip)) problems.push(`host ${h.hostname}: "${h.ip}" is not an IPv4 address`);
  }
  if (spec.hosts.length > 0 && !spec.hosts.some((h) => h.hostname === mailHost))
    problems.push(`mail host ${mailHost} is not among the hosts, so MX would point at a name without an address`);
  if (problems.length) throw new MailRecordError(`records for ${domain}: ${problems.join("; ")}`);

  const srv = (service: string, priority: number, port: number): MailRecord => ({
    type: "SRV",
    name: `${service}._tcp.${domain}`,
    content: `${priority} 1 ${port} ${mailHost}`,
    ttl,
    proxied: false,
    data: { priority, weight: 1, port, target: mailHost },
  });
  const dmarcTo = `${spec.reportsTo?.dmarc ?? "dmarc-reports"}@${domain}`;
  const tlsTo = `${spec.reportsTo?.tls ?? "tls-reports"}@${domain}`;
  return [
    ...spec.hosts.map((h): MailRecord => ({ type: "A", name: h.hostname, content: h.ip, ttl, proxied: false })),
    // A pending IP sends nothing yet: its HELO record comes with its address.
    ...spec.hosts.filter((h) => h.hostname !== domain && h.ip !== "").map((h) => heloSpfRecord(h, ttl)),
    { type: "MX", name: domain, content: mailHost, priority: 10, ttl, proxied: false },
    spfRecord(domain, spec.sendingIps, ttl),
    dkimRecord(domain, spec.dkim.selector, spec.dkim.publicKeyBase64, ttl),
    dmarcRecord(domain, spec.dmarcPolicy, dmarcTo, ttl),
    ...webHostnames(domain)
      .filter((n) => !n.startsWith("mta-sts."))
      .map((name): MailRecord => ({ type: "CNAME", name, content: mailHost, ttl, proxied: false })),
    srv("_submissions", 10, 465),
    srv("_submission", 20, 587),
    srv("_imaps", 10, 993),
    srv("_autodiscover", 10, 443),
    { type: "CNAME", name: `mta-sts.${domain}`, content: mailHost, ttl, proxied: false },
    { type: "TXT", name: `_mta-sts.${domain}`, content: `v=STSv1; id=${mtaStsId(mtaStsPolicy([mailHost]))}`, ttl, proxied: false },
    { type: "TXT", name: `_smtp._tls.${domain}`, content: `v=TLSRPTv1; rua=mailto:${tlsTo}`, ttl, proxied: false },
  ];
}
