/**
 * A tenant's sending domains as the platform shows them: each domain's zone (found as the program
 * finds it, providers/model/zones.ts), what it must serve (from the stack's outputs), and its
 * verification status, judged by the verify library (scripts/lib/verify/domain.ts) after every
 * apply and on "Re-verify DNS". Each move of a status (pending → verified | failing, and back) is a
 * `domain.status` webhook, written in the transaction that records it.
 */
import { Pool } from "pg";
import { CloudflareClient } from "../providers/cloudflare/client";
import { Tenant } from "../providers/model/tenant";
import { domainZones, needsZoneList } from "../providers/model/zones";
export { registrableProblem } from "../providers/model/zones";
import { inTransaction } from "../scripts/lib/postgres/index";
import { NameServer, PublishedRecord } from "../scripts/lib/verify/dns";
import { DomainToVerify, DomainVerification, delegatedTo, recordsOfDomain, verifyDomain } from "../scripts/lib/verify/domain";
import { authoritativeFor } from "../scripts/lib/verify/index";
import { HttpsOptions } from "../scripts/lib/verify/mta-sts";
import { promises as dns } from "dns";
import { queueWebhook } from "./lifecycle";
import { DomainRow, listDomains, saveVerification } from "./store/domains";

export interface VerificationOptions {
  /** The zones' authoritative servers (ip or ip:port); default: looked up (NS) per domain. */
  authoritative?: string[];
  /** Public resolvers to judge propagation by (ip or ip:port); default this machine's. */
  resolvers?: string[];
  /**
   * How to reach each mta-sts.<domain> to fetch its policy (`{}`: by its DNS name, the default);
   * false: the policy is not fetched (only its TXT is judged), for servers with no MailU yet.
   */
  mtaSts?: HttpsOptions | false;
  /** The Cloudflare token's settings (CLOUDFLARE_API_TOKEN, CLOUDFLARE_BASE_URL): which zones it sees. */
  cloudflare?: { apiToken: string; baseUrl: string };
}

/** The zones the service's Cloudflare token can see (undefined without a token). */
export async function visibleZones(o: VerificationOptions): Promise<string[] | undefined> {
  return (await cloudflareZones(o))?.map((z) => z.name);
}

/** The token's zones with the name servers Cloudflare assigned each (undefined without a token). */
async function cloudflareZones(o: VerificationOptions): Promise<Array<{ name: string; nameServers?: string[] }> | undefined> {
  if (!o.cloudflare?.apiToken) return undefined;
  return (await new CloudflareClient(o.cloudflare).zones()).map((z) => ({ name: z.name, nameServers: z.name_servers }));
}

/** The NS the resolver answers for a zone (undefined when it has none or does not answer). */
async function servedNameServers(zone: string, resolver: string): Promise<string[] | undefined> {
  const r = new dns.Resolver({ timeout: 3000, tries: 2 });
  r.setServers([resolver]);
  return r.resolveNs(zone).catch(() => undefined);
}

/** Each domain's zone as the program places it (named, the tenant's zone for the first, else the token's zone list). */
export async function zonesOfTenant(t: Tenant, o: VerificationOptions): Promise<{ zones: string[]; problems: string[] }> {
  const visible = needsZoneList(t.domains, t.zone) ? ((await visibleZones(o)) ?? []) : [];
  return domainZones(t.id, t.domains, t.zone, visible);
}

interface OutputServer {
  name: string;
  sendingIps?: Array<{ ip: string; hostname: string }>;
  standbyIps?: Array<{ ip: string; hostname: string }>;
}

/** What each domain must serve, from the stack's outputs: its records, the hosts' A records, the PTR of every IP it sends from. */
export function expectedDomains(
  t: Tenant,
  outputs: Record<string, unknown>,
  zones: string[],
): Array<{ domain: string; zone: string; expected: Omit<DomainToVerify, "zone"> }> {
  const records = (outputs.dnsRecords ?? []) as PublishedRecord[];
  const servers = (outputs.servers ?? []) as OutputServer[];
  const sending = servers.flatMap((s) => [...(s.sendingIps ?? []), ...(s.standbyIps ?? [])]);
  const hosts = [...servers.map((s) => s.name), ...sending.map((s) => s.hostname)];
  return t.domains.map((d, i) => ({
    domain: d.name,
    zone: zones[i] || t.zone,
    expected: { domain: d.name, records: recordsOfDomain(d.name, records, hosts), sendingIps: sending },
  }));
}

/** A domain as the API and its webhook show it. */
export function publicDomain(r: Pick<DomainRow, "domain" | "tenant" | "zone" | "status" | "checked_at" | "verification">) {
  return {
    domain: r.domain,
    tenant: r.tenant,
    zone: r.zone,
    status: r.status,
    checkedAt: r.checked_at ? new Date(r.checked_at).toISOString() : null,
    hints: r.verification?.hints ?? [],
    records: r.verification?.records ?? [],
  };
}

const nameServers = (list: string[], label: string): NameServer[] => list.map((a) => ({ label: `${label} ${a}`, address: a }));

/**
 * Verifies the tenant's domains (all, or those named) and records each; a status that moved is a
 * `domain.status` webhook. Domains are checked side by side, a few at a time. `save` runs each
 * record's write (an apply passes one that waits out a database outage, so a verdict judged while
 * the database was away is not lost).
 */
export async function verifyTenantDomains(
  pool: Pool,
  o: VerificationOptions,
  tenant: string,
  only?: string[],
  save: (write: () => Promise<void>) => Promise<void> = (write) => write(),
): Promise<DomainVerification[]> {
  const rows = (await listDomains(pool, tenant, undefined, 100_000)).filter((r) => !only || only.includes(r.domain));
  if (!rows.length) return [];
  const zones = await cloudflareZones(o).catch(() => undefined);
  const visible = zones?.map((z) => z.name);
  const resolvers = nameServers(o.resolvers?.length ? o.resolvers : dns.getServers(), "resolver");
  const out: DomainVerification[] = [];
  const one = async (r: DomainRow) => {
    const found = o.authoritative?.length
      ? nameServers(o.authoritative, "authoritative")
      : await authoritativeFor(r.domain, resolvers[0].address).catch(() => []);
    // No NS answer: judged by the resolvers alone, as `npm run verify` does ("checked resolvers only").
    const authoritative = found.length ? found : resolvers;
    // Delegation: the resolvers' NS for the zone against the name servers Cloudflare gave it (the hint names them).
    const cloudflareNs = zones?.find((z) => z.name === r.zone)?.nameServers;
    const delegated = cloudflareNs?.length ? delegatedTo(cloudflareNs, await servedNameServers(r.zone, resolvers[0].address)) : undefined;
    const facts = {
      zone: r.zone,
      ...(visible ? { onAccount: visible.includes(r.zone) } : {}),
      ...(delegated === undefined ? {} : { delegated, nameServers: cloudflareNs }),
    };
    const v = await verifyDomain({ ...r.expected, zone: facts }, { authoritative, resolvers, mtaSts: o.mtaSts ?? {} });
    await save(() =>
      inTransaction(pool, async (c) => {
        const before = await saveVerification(c, tenant, v);
        if (before !== undefined && before !== v.status)
          await queueWebhook(c, "domain.status", tenant, {
            event: "domain.status",
            previousStatus: before,
            domain: publicDomain({ ...r, status: v.status, checked_at: new Date(v.checkedAt), verification: v }),
          });
      }),
    );
    out.push(v);
  };
  for (let i = 0; i < rows.length; i += 10) await Promise.all(rows.slice(i, i + 10).map(one));
  return out;
}
