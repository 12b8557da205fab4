/**
 * One sending domain's verification, as the platform shows it to its customer: for each record the
 * domain needs (A of each host, MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV/autoconfig) and the PTR
 * of each IP it sends from, the expected value, what the zone's authoritative servers serve, what
 * public resolvers serve, and a plain hint where they differ. Built on `verify`'s own checks (the
 * lookups and propagation of ./dns.ts, SPF/DKIM/DMARC of checkMailAuth, PTR of checkReverseDns):
 * the service's "Re-verify DNS" and `npm run verify` judge a domain the same way.
 *
 * A domain is `verified` when every record is served as expected everywhere, `pending` while the
 * authoritative servers serve it but a resolver does not yet (propagation), `failing` otherwise.
 */
import { Answer, NameServer, PublishedRecord, answersOf, checkMailAuth, checkReverseDns, expectedOf, serves, shown } from "./dns";
import { CheckResult } from "./result";
import { HttpsOptions, checkMtaSts } from "./mta-sts";

export type DomainStatus = "pending" | "verified" | "failing";
export type RecordState = "ok" | "propagating" | "failing";

export interface RecordVerification {
  type: string;
  name: string;
  expected: string;
  /** Each authoritative server's answer, as verify prints it. */
  authoritative: string[];
  /** Each resolver's answer. */
  resolvers: string[];
  state: RecordState;
  hint?: string;
}

export interface DomainVerification {
  domain: string;
  zone: string;
  status: DomainStatus;
  checkedAt: string;
  records: RecordVerification[];
  /** The domain's hints, each once, in the order found. */
  hints: string[];
}

/** What the service knows of the zone besides DNS answers. */
export interface ZoneFacts {
  zone: string;
  /** false: the Cloudflare token does not see the zone. */
  onAccount?: boolean;
  /** false: the resolvers' NS for the zone are not the zone's Cloudflare name servers. */
  delegated?: boolean;
  /** The name servers Cloudflare gave the zone (for the hint). */
  nameServers?: string[];
}

/**
 * Whether a zone is delegated to the name servers Cloudflare assigned it (pure): the NS the
 * resolvers answer for the zone are exactly those (case and a final dot aside). Undefined when
 * either side is unknown (no list from Cloudflare, no NS answer): no hint is better than a wrong one.
 */
export function delegatedTo(cloudflare: string[] | undefined, served: string[] | undefined): boolean | undefined {
  if (!cloudflare?.length || !served?.length) return undefined;
  const norm = (l: string[]) => [...new Set(l.map((h) => h.toLowerCase().replace(/\.$/, "")))].sort().join(" ");
  return norm(cloudflare) === norm(served);
}

/** What a TXT record claims, by its `v=` tag (SPF, DKIM, DMARC, MTA-STS, TLS-RPT); other types claim their name. */
const tagOf = (content: string) => /^v=([A-Za-z0-9]+)/.exec(content)?.[1]?.toUpperCase();

/**
 * One record, judged from its answers (pure): the state and the hint a customer can act on.
 * Order of blame: the zone is not ours, the authoritative servers serve something else (a second
 * SPF, a record made by hand, nothing), the resolvers lag (delegation, propagation).
 */
export function judgeRecord(rec: PublishedRecord, auth: Answer[], resolvers: Answer[], zone: ZoneFacts): RecordVerification {
  const expected = expectedOf(rec);
  const base = { type: rec.type, name: rec.name, expected, authoritative: auth.map(shown), resolvers: resolvers.map(shown) };
  if (zone.onAccount === false)
    return {
      ...base,
      state: "failing",
      hint: `the zone ${zone.zone} is not on this Cloudflare account: add it in Cloudflare (or give the service's token access to it), then verify again`,
    };
  const served = auth.find((a) => Array.isArray(a) && a.length) as string[] | undefined;
  const tag = rec.type === "TXT" ? tagOf(rec.content) : undefined;
  const sameKind = (served ?? []).filter((x) => (tag ? tagOf(x) === tag : true));
  // Two SPF records fail SPF even when one of them is ours (RFC 7208 §4.5: permerror).
  if (tag === "SPF1" && sameKind.length > 1)
    return {
      ...base,
      state: "failing",
      hint: `a second SPF record at ${rec.name}: a domain may publish only one (RFC 7208 §3.2, §4.5) and receivers then fail both; delete the one not made by the service in Cloudflare`,
    };
  if (!auth.length || !auth.every((a) => serves(a, expected))) {
    // A server that did not answer (a timeout, a refusal) tells nothing: pending, asked again next time.
    if (auth.some((a) => a instanceof Error) && !sameKind.length)
      return {
        ...base,
        state: "propagating",
        hint: `no answer from the zone's authoritative servers for ${rec.type} ${rec.name} (${shown(auth.find((a) => a instanceof Error)!)}); verify again`,
      };
    if (sameKind.length)
      return {
        ...base,
        state: "failing",
        hint: `a conflicting ${rec.type} record at ${rec.name} (${shown(sameKind)}), made by hand or by another tool; delete it in Cloudflare, the next apply of the tenant writes the expected one`,
      };
    return {
      ...base,
      state: "failing",
      hint: `the zone's authoritative servers do not serve ${rec.type} ${rec.name} (${shown(auth[0] ?? [])}); the next apply of the tenant publishes it`,
    };
  }
  if (resolvers.every((a) => serves(a, expected))) return { ...base, state: "ok" };
  if (zone.delegated === false)
    return {
      ...base,
      state: "failing",
      hint: `the domain's NS records are not delegated to Cloudflare: at the registrar set the name servers to ${(zone.nameServers ?? []).join(", ") || "the two Cloudflare shows for the zone"}`,
    };
  return {
    ...base,
    state: "propagating",
    hint: "propagation still under way: the zone serves the record, some public resolvers still answer from their cache (up to the record's TTL)",
  };
}

/** A check of `verify` (SPF/DKIM/DMARC parsing, PTR) as a row of the domain's verification. */
function fromCheck(r: CheckResult, expected: string): RecordVerification {
  return {
    type: r.check === "reverse dns" ? "PTR" : r.check.toUpperCase(),
    name: r.subject,
    expected,
    authoritative: [],
    resolvers: [r.detail],
    state: r.status === "fail" ? "failing" : "ok",
    ...(r.status === "fail" ? { hint: r.detail } : {}),
  };
}

/** The domain's status from its rows (pure). */
export function domainStatus(rows: RecordVerification[]): DomainStatus {
  if (rows.some((r) => r.state === "failing")) return "failing";
  return rows.some((r) => r.state === "propagating") ? "pending" : "verified";
}

export interface DomainToVerify {
  domain: string;
  zone: ZoneFacts;
  /** The records the domain needs (its own and the A records of the hosts it sends from). */
  records: PublishedRecord[];
  /** IPs it sends from, with the host name each PTR must name. */
  sendingIps: Array<{ ip: string; hostname: string }>;
}

/**
 * Asks the servers and judges the domain; `now` stamps it. With `mtaSts` (how to reach each
 * mta-sts.<domain>; `{}` is by its DNS name) the MTA-STS policy is fetched and judged as a sender
 * would (RFC 8461 §3.3: `verify`'s own check) for a domain that publishes an `_mta-sts` TXT.
 */
export async function verifyDomain(
  d: DomainToVerify,
  servers: { authoritative: NameServer[]; resolvers: NameServer[]; mtaSts?: HttpsOptions | false },
  now = new Date(),
): Promise<DomainVerification> {
  const rows = await Promise.all(
    d.records.map(async (rec) =>
      judgeRecord(rec, await answersOf(rec, servers.authoritative), await answersOf(rec, servers.resolvers), d.zone),
    ),
  );
  if (d.zone.onAccount !== false && servers.resolvers[0]) {
    const semantic = await checkMailAuth(
      d.domain,
      d.records,
      d.sendingIps.map((s) => s.ip),
      servers.resolvers[0],
    );
    // SPF/DKIM/DMARC as receivers parse them: only a failure adds a row (its content row is above).
    rows.push(
      ...semantic.filter((r) => r.status === "fail").map((r) => fromCheck(r, r.check === "spf" ? "one SPF covering every sending IP" : "")),
    );
    rows.push(...(await checkReverseDns(d.sendingIps, servers.resolvers[0])).map((r, i) => fromCheck(r, d.sendingIps[i].hostname)));
    if (servers.mtaSts && d.records.some((r) => r.type === "TXT" && r.name === `_mta-sts.${d.domain}`)) {
      const policy = fromCheck(
        await checkMtaSts(d.domain, servers.resolvers[0], servers.mtaSts),
        "a policy naming every MX, its id in the TXT",
      );
      rows.push({ ...policy, name: `https://mta-sts.${d.domain}/.well-known/mta-sts.txt` });
    }
  }
  const hints = [...new Set(rows.flatMap((r) => (r.hint ? [r.hint] : [])))];
  return { domain: d.domain, zone: d.zone.zone, status: domainStatus(rows), checkedAt: now.toISOString(), records: rows, hints };
}

/**
 * The records one domain needs out of a stack's published records: its own names and the A
 * records of the hosts MX names and the sending IPs' host names.
 */
export function recordsOfDomain(domain: string, all: PublishedRecord[], hostNames: string[]): PublishedRecord[] {
  const own = (n: string) => n === domain || n.endsWith(`.${domain}`);
  const hosts = new Set(hostNames);
  return all.filter((r) => own(r.name) || (r.type === "A" && hosts.has(r.name)));
}
