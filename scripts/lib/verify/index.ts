/**
 * `verifyStack`: every deliverability check for one tenant stack's outputs.
 * Used by `npm run verify` and usable per stack by fleet tooling.
 */
import { promises as dns } from "dns";
import { CheckResult } from "./result";
import { NameServer, PublishedRecord, checkBlocklists, checkMailAuth, checkPropagation, checkReverseDns, lookup, mxHosts } from "./dns";
import { ReportMailbox, SmtpOptions, checkReportMailboxes, checkSmtp } from "./smtp";
import { ServerBackup, checkBackups } from "./backup";
import { HttpsOptions, checkMtaSts } from "./mta-sts";
import { PtrAnswer, SshAccess, judgeHelo, readRelayTransports } from "./relay";
import { reportUris } from "./mail-auth";
import { checkCertificateNames } from "./certificate-names";

export interface StackOutputs {
  tenant?: string;
  servers: Array<{
    name: string;
    mainIp: string;
    sendingIps: Array<{ ip: string; hostname: string }>;
    standbyIps?: Array<{ ip: string; hostname: string }>;
    backup?: ServerBackup;
    /** Which IP each sending domain leaves from and the IPs that carry none (stacks/build.ts; with MailU installed). */
    routes?: { domains?: Array<{ domain: string; ip: string }>; idleIps?: string[] };
  }>;
  dnsRecords: PublishedRecord[];
  monthlyCostUsd?: { servers?: Array<{ ipsUsd?: number }> };
}

/**
 * Each IP mail leaves from carries at least one sending domain; one that carries none (the tenant has
 * fewer domains than sending IPs) is billed, in SPF and warming up, and sends nothing: a warning with its cost.
 */
export function idleIpChecks(outputs: StackOutputs): CheckResult[] {
  return outputs.servers.flatMap((s, i) => {
    if (!s.routes?.idleIps) return [];
    const ips = s.sendingIps.length + (s.standbyIps?.length ?? 0);
    const each = ips ? (outputs.monthlyCostUsd?.servers?.[i]?.ipsUsd ?? 0) / ips : 0;
    const carried = (ip: string) => (s.routes?.domains ?? []).filter((r) => r.ip === ip).map((r) => r.domain);
    return s.sendingIps.map((x): CheckResult => {
      if (!s.routes!.idleIps!.includes(x.ip))
        return {
          check: "ip carries a domain",
          subject: x.ip,
          status: "pass",
          detail: carried(x.ip).join(", ") || "paused (its standby sends)",
        };
      return {
        check: "ip carries a domain",
        subject: x.ip,
        status: "warn",
        detail: `idle: no sending domain leaves from it (fewer domains than sending IPs), yet it costs $${each.toFixed(2)}/month and is in SPF; add a domain or release the IP`,
      };
    });
  });
}
export type StackServer = StackOutputs["servers"][number];

export interface VerifyOptions {
  /** Resolvers to compare (ip or ip:port); default this machine's. */
  resolvers?: string[];
  /** The zone's authoritative servers (ip or ip:port); default: looked up (NS). */
  authoritative?: string[];
  /** DNS blocklist zones (default zen.spamhaus.org). */
  blocklists?: string[];
  /** Where to reach each server's SMTP instead of its main IP (tests). */
  smtpHost?: string;
  smtp?: SmtpOptions | false;
  /** Skip the backup check (it needs restic on this machine). */
  backups?: false;
  /** The time backup ages are measured at (default now). */
  now?: Date;
  /**
   * How to reach a server over SSH to read its outbound relay (the CLI takes it from the stack's
   * state); without it, or when it answers undefined, the HELO check is "unknown".
   */
  ssh?: (server: StackServer) => Promise<SshAccess | undefined>;
  /** Where and how to fetch each domain's MTA-STS policy (tests: another address, a test CA); false skips the check. */
  mtaSts?: HttpsOptions | false;
  /** Where and how to reach each server's HTTPS for the names pointed at it (autoconfig, autodiscover, mta-sts); false skips the check. */
  certificates?: HttpsOptions | false;
}

/** The domains the stack sends for: each has an MX (host names carry SPF too, for HELO, but no MX). */
export const sendingDomains = (records: PublishedRecord[]) => records.filter((r) => r.type === "MX").map((r) => r.name);

export async function authoritativeFor(domain: string, via: string): Promise<NameServer[]> {
  const r = new dns.Resolver({ timeout: 3000, tries: 2 });
  r.setServers([via]);
  for (let name = domain; name.includes("."); name = name.slice(name.indexOf(".") + 1)) {
    const ns = await r.resolveNs(name).catch(() => [] as string[]);
    if (!ns.length) continue;
    const out: NameServer[] = [];
    for (const host of ns) {
      const a = await lookup(via, "A", host);
      if (Array.isArray(a) && a[0]) out.push({ label: `authoritative ${host}`, address: a[0] });
    }
    return out;
  }
  return [];
}

export async function verifyStack(outputs: StackOutputs, o: VerifyOptions = {}): Promise<CheckResult[]> {
  const resolvers: NameServer[] = (o.resolvers?.length ? o.resolvers : dns.getServers()).map((a) => ({
    label: `resolver ${a}`,
    address: a,
  }));
  if (!resolvers.length) throw new Error("no resolver to ask: pass --resolvers");
  const domains = sendingDomains(outputs.dnsRecords);
  const results: CheckResult[] = [];
  let authoritative: NameServer[] = (o.authoritative ?? []).map((a) => ({ label: `authoritative ${a}`, address: a }));
  if (!authoritative.length && domains[0]) authoritative = await authoritativeFor(domains[0], resolvers[0].address);
  if (!authoritative.length)
    results.push({
      check: "dns servers",
      subject: domains[0] ?? "?",
      status: "unknown",
      detail: "no authoritative servers found (NS lookup failed); checked resolvers only",
    });

  results.push(...(await checkPropagation(outputs.dnsRecords, [...authoritative, ...resolvers])));
  const sending = outputs.servers.flatMap((s) => [...s.sendingIps, ...(s.standbyIps ?? [])]);
  for (const d of domains)
    results.push(
      ...(await checkMailAuth(
        d,
        outputs.dnsRecords,
        sending.map((s) => s.ip),
        resolvers[0],
      )),
    );
  results.push(...(await checkReverseDns(sending, resolvers[0])));
  results.push(
    ...(await checkReverseDns(
      outputs.servers.map((s) => ({ ip: s.mainIp, hostname: s.name })),
      resolvers[0],
      "main ptr",
    )),
  );
  for (const s of outputs.servers) results.push(...(await checkHelo(s, resolvers[0], o)));
  results.push(...idleIpChecks(outputs));
  if (o.mtaSts !== false)
    for (const d of domains.filter((d) => outputs.dnsRecords.some((r) => r.type === "TXT" && r.name === `_mta-sts.${d}`)))
      results.push(await checkMtaSts(d, resolvers[0], o.mtaSts ?? {}));
  if (o.certificates !== false)
    results.push(
      ...(await checkCertificateNames(
        outputs.dnsRecords,
        outputs.servers.map((s) => ({ hostname: s.name, address: s.mainIp })),
        o.certificates ?? {},
      )),
    );
  results.push(
    ...(await checkBlocklists(
      sending.map((s) => s.ip),
      o.blocklists ?? ["zen.spamhaus.org"],
      resolvers[0],
    )),
  );
  if (o.smtp !== false)
    results.push(
      ...(await checkSmtp(
        outputs.servers.map((s) => ({ hostname: s.name, address: o.smtpHost ?? s.mainIp })),
        o.smtp ?? {},
      )),
    );
  if (o.smtp !== false) results.push(...(await checkReportMailboxes(await reportMailboxes(domains, resolvers[0], o), o.smtp ?? {})));
  if (o.backups !== false) results.push(...(await checkBackups(outputs.servers, o.now)));
  return results;
}

/** HELO = PTR for each transport of the server's relay, read over SSH. */
async function checkHelo(s: StackServer, server: NameServer, o: VerifyOptions): Promise<CheckResult[]> {
  const unknown = (detail: string): CheckResult[] => [{ check: "helo = ptr", subject: s.name, status: "unknown", detail }];
  const access = o.ssh ? await o.ssh(s).catch((e: Error) => e) : undefined;
  if (!access) return unknown("no SSH access to read the relay's transports (run with --stack, which reads it from the stack's state)");
  if (access instanceof Error) return unknown(`no SSH access: ${access.message}`);
  let transports;
  try {
    transports = await readRelayTransports(access);
  } catch (e) {
    return [
      { check: "helo = ptr", subject: s.name, status: "fail", detail: `cannot read the relay's transports: ${(e as Error).message}` },
    ];
  }
  const ptrs = new Map<string, PtrAnswer>();
  for (const t of transports) if (t.bind && !ptrs.has(t.bind)) ptrs.set(t.bind, await lookup(server.address, "PTR", t.bind));
  return judgeHelo(s.name, transports, [...s.sendingIps, ...(s.standbyIps ?? [])], s.mainIp, (ip) => ptrs.get(ip) ?? "NXDOMAIN");
}

/** The mailto: report addresses DMARC (rua, ruf) and TLS-RPT (rua) name, each with the MX of its domain. */
async function reportMailboxes(domains: string[], server: NameServer, o: VerifyOptions): Promise<ReportMailbox[]> {
  const roles = new Map<string, string[]>();
  const add = (address: string, role: string) => roles.set(address, [...new Set([...(roles.get(address) ?? []), role])]);
  const served = async (name: string, prefix: string) => {
    const a = await lookup(server.address, "TXT", name);
    return Array.isArray(a) ? a.find((t) => t.startsWith(prefix)) : undefined;
  };
  for (const d of domains) {
    const dmarc = await served(`_dmarc.${d}`, "v=DMARC1");
    for (const a of reportUris(dmarc, ["rua"]).mailto) add(a, "DMARC rua");
    for (const a of reportUris(dmarc, ["ruf"]).mailto) add(a, "DMARC ruf");
    for (const a of reportUris(await served(`_smtp._tls.${d}`, "v=TLSRPTv1"), ["rua"]).mailto) add(a, "TLS-RPT rua");
  }
  const out: ReportMailbox[] = [];
  for (const [address, r] of roles) {
    const host = (await mxHosts(address.slice(address.lastIndexOf("@") + 1), server))[0];
    let where: string | undefined = o.smtpHost;
    if (host && !where) {
      const a = await lookup(server.address, "A", host);
      where = Array.isArray(a) ? a[0] : undefined;
    }
    out.push({ address, roles: r, mx: host && where ? { hostname: host, address: where } : undefined });
  }
  return out;
}
