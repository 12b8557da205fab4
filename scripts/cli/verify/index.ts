/**
 * `verifyStack`: every deliverability check for one tenant stack's outputs.
 * Used by `npm run verify` and usable per stack by fleet tooling.
 */
import { promises as dns } from "dns";
import { CheckResult } from "./result";
import { NameServer, PublishedRecord, checkBlocklists, checkMailAuth, checkPropagation, checkReverseDns, lookup } from "./dns";
import { SmtpOptions, checkSmtp } from "./smtp";
import { ServerBackup, checkBackups } from "./backup";

export interface StackOutputs {
  tenant?: string;
  servers: Array<{
    name: string;
    mainIp: string;
    sendingIps: Array<{ ip: string; hostname: string }>;
    standbyIps?: Array<{ ip: string; hostname: string }>;
    backup?: ServerBackup;
  }>;
  dnsRecords: PublishedRecord[];
}

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
}

/** The domains the stack sends for: each has an SPF record. */
export const sendingDomains = (records: PublishedRecord[]) =>
  records.filter((r) => r.type === "TXT" && r.content.startsWith("v=spf1")).map((r) => r.name);

async function authoritativeFor(domain: string, via: string): Promise<NameServer[]> {
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
  if (o.backups !== false) results.push(...(await checkBackups(outputs.servers, o.now)));
  return results;
}
