/**
 * DNS checks of what a tenant stack published: each record served with the
 * same content by the zone's authoritative servers and by each resolver;
 * SPF, DKIM and DMARC parsed; per sending IP, PTR = its host name and the
 * host name resolving back (FCrDNS), the same for each server's main IP and
 * its host name, and each sending IP's standing on DNS blocklists.
 */
import { promises as dns } from "dns";
import { CheckResult } from "./result";
import { blocklistVerdict, checkDkim, checkDmarc, checkSpf } from "./mail-auth";

export interface PublishedRecord {
  type: string;
  name: string;
  content: string;
  priority?: number;
}
export interface NameServer {
  label: string;
  address: string;
}

export type Answer = string[] | "NXDOMAIN" | Error;

function resolver(address: string): dns.Resolver {
  const r = new dns.Resolver({ timeout: 3000, tries: 2 });
  r.setServers([address]);
  return r;
}

/** The record's content as our outputs write it, from one server's answer. */
export async function lookup(address: string, type: string, name: string): Promise<Answer> {
  const r = resolver(address);
  try {
    switch (type) {
      case "A":
        return await r.resolve4(name);
      case "TXT":
        return (await r.resolveTxt(name)).map((chunks) => chunks.join(""));
      case "MX":
        return (await r.resolveMx(name)).map((m) => `${m.priority} ${m.exchange}`);
      case "CNAME":
        return await r.resolveCname(name);
      case "SRV":
        return (await r.resolveSrv(name)).map((s) => `${s.priority} ${s.weight} ${s.port} ${s.name}`);
      case "PTR":
        return await r.reverse(name);
      default:
        return new Error(`cannot look up ${type}`);
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") return code === "ENOTFOUND" ? "NXDOMAIN" : [];
    return e as Error;
  }
}

/** The record's content as a lookup answers it (MX with its preference). */
export const expectedOf = (r: PublishedRecord) => (r.type === "MX" ? `${r.priority ?? 10} ${r.content}` : r.content);
/** Whether one server's answer serves the expected content. */
export const serves = (a: Answer, want: string): boolean => Array.isArray(a) && a.includes(want);
/** Each server's answer for the record, in the order of `servers`. */
export const answersOf = (rec: Pick<PublishedRecord, "type" | "name">, servers: NameServer[]): Promise<Answer[]> =>
  Promise.all(servers.map((s) => lookup(s.address, rec.type, rec.name)));
export const shown = (a: Answer) =>
  a === "NXDOMAIN"
    ? "NXDOMAIN"
    : a instanceof Error
      ? `error ${(a as NodeJS.ErrnoException).code ?? a.message}`
      : a.length
        ? a.map((x) => (x.length > 60 ? `${x.slice(0, 57)}...` : x)).join(" | ")
        : "no answer";

/** Every record on every server: same content, or a line saying which server serves what. */
export async function checkPropagation(records: PublishedRecord[], servers: NameServer[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const rec of records) {
    const want = expectedOf(rec);
    const answers = await answersOf(rec, servers);
    const wrong = servers.flatMap((s, i) => (serves(answers[i], want) ? [] : [`${s.label} answers ${shown(answers[i])}`]));
    out.push({
      check: "dns record",
      subject: `${rec.type} ${rec.name}`,
      status: wrong.length ? "fail" : "pass",
      detail: wrong.length
        ? `expected ${want.length > 60 ? `${want.slice(0, 57)}...` : want}; ${wrong.join("; ")}`
        : `same on ${servers.length} server${servers.length > 1 ? "s" : ""}`,
    });
  }
  return out;
}

export async function checkMailAuth(
  domain: string,
  records: PublishedRecord[],
  sendingIps: string[],
  server: NameServer,
): Promise<CheckResult[]> {
  const txt = async (name: string) => {
    const a = await lookup(server.address, "TXT", name);
    return Array.isArray(a) ? a : [];
  };
  const spf = (await txt(domain)).find((t) => t.startsWith("v=spf1"));
  const s = checkSpf(spf, sendingIps);
  const dkimRec = records.find((r) => r.type === "TXT" && r.name.endsWith(`._domainkey.${domain}`));
  const dkimServed = dkimRec ? (await txt(dkimRec.name)).find((t) => t.startsWith("v=DKIM1")) : undefined;
  const d = checkDkim(dkimServed, dkimRec?.content);
  const m = checkDmarc((await txt(`_dmarc.${domain}`)).find((t) => t.startsWith("v=DMARC1")));
  return [
    {
      check: "spf",
      subject: domain,
      status: s.ok ? "pass" : "fail",
      detail: s.ok
        ? `covers ${sendingIps.length} sending IPs, ${s.lookups} DNS lookup${s.lookups === 1 ? "" : "s"}`
        : s.problems.join("; "),
    },
    {
      check: "dkim",
      subject: dkimRec?.name ?? `?._domainkey.${domain}`,
      status: d.ok ? "pass" : "fail",
      detail: d.ok ? `RSA ${d.bits} bits, matches the stack's key` : d.problems.join("; "),
    },
    {
      check: "dmarc",
      subject: `_dmarc.${domain}`,
      status: m.ok ? (m.policy === "none" ? "warn" : "pass") : "fail",
      detail: m.ok
        ? `p=${m.policy}${m.policy === "none" ? " (monitoring only; tighten once reports are clean)" : ""}`
        : m.problems.join("; "),
    },
  ];
}

/** A DNS name as compared: lower case, without the root's trailing dot. */
export const dnsName = (name: string): string => name.toLowerCase().replace(/\.$/, "");

/** Per IP: PTR = its host name and the name resolving back (FCrDNS); `check` names the line ("main ptr" for a server's main IP). */
export async function checkReverseDns(
  ips: Array<{ ip: string; hostname: string }>,
  server: NameServer,
  check = "reverse dns",
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const { ip, hostname } of ips) {
    const ptr = await lookup(server.address, "PTR", ip);
    const names = Array.isArray(ptr) ? ptr.map(dnsName) : [];
    const forward = await lookup(server.address, "A", hostname);
    const back = Array.isArray(forward) && forward.includes(ip);
    const problems = [
      ...(names.includes(hostname) ? [] : [`PTR is ${shown(ptr)}, expected ${hostname}`]),
      ...(back ? [] : [`${hostname} resolves to ${shown(forward)}, not back to ${ip}`]),
    ];
    out.push({
      check,
      subject: ip,
      status: problems.length ? "fail" : "pass",
      detail: problems.length ? problems.join("; ") : `${ip} → ${hostname} → ${ip}`,
    });
  }
  return out;
}

export async function checkBlocklists(ips: string[], zones: string[], server: NameServer): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const ip of ips) {
    for (const zone of zones) {
      const a = await lookup(server.address, "A", `${ip.split(".").reverse().join(".")}.${zone}`);
      const v = blocklistVerdict(a);
      out.push({
        check: "blocklist",
        subject: `${ip} on ${zone}`,
        status: v === "listed" ? "fail" : v === "unknown" ? "unknown" : "pass",
        detail:
          v === "listed"
            ? `listed (${shown(a)}): retire or pause this IP`
            : v === "unknown"
              ? `could not tell (${shown(a)}; 127.255.255.x means the list refused the query, e.g. through a public resolver)`
              : "not listed",
      });
    }
  }
  return out;
}

/** The host names of a domain's MX records, lowest preference first. */
export async function mxHosts(domain: string, server: NameServer): Promise<string[]> {
  const a = await lookup(server.address, "MX", domain);
  if (!Array.isArray(a)) return [];
  return a
    .map((m) => m.split(" "))
    .sort((x, y) => Number(x[0]) - Number(y[0]))
    .map((m) => dnsName(m[1]));
}
