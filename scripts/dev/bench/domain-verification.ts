/**
 * Verification of a tenant's sending domains (scripts/lib/verify/domain.ts, what the service runs
 * after every apply and on "Re-verify DNS"): one domain, and 50 domains the way the service checks
 * them (10 side by side), against two DNS stand-ins on loopback (authoritative and resolver). Each
 * domain has the records MailDomain publishes (mail-records.ts) and 2 sending IPs with their PTR.
 */
import { generateKeyPairSync } from "crypto";
import { mailDomainRecords } from "../../../components/mail-records";
import { DnsSim } from "../standins/dns";
import { DomainToVerify, verifyDomain } from "../../lib/verify/domain";

export interface DomainVerificationBench {
  oneDomainMs: number;
  fiftyDomainsMs: number;
  recordsPerDomain: number;
  verified: number;
  /** The hints of the domains not verified in the last round. */
  notVerified: string[];
}

const ms = async (f: () => Promise<unknown>) => {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};

export async function domainVerificationBench(rounds = 3): Promise<DomainVerificationBench> {
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const ips = [
    { ip: "198.51.100.1", hostname: "mx1-ip1.bench-0.com" },
    { ip: "198.51.100.2", hostname: "mx1-ip2.bench-0.com" },
  ];
  const hosts = [{ hostname: "mx1.bench-0.com", ip: "198.51.100.10" }, ...ips.map((i) => ({ hostname: i.hostname, ip: i.ip }))];
  const domains: DomainToVerify[] = Array.from({ length: 50 }, (_, n) => {
    const domain = `bench-${n}.com`;
    const records = mailDomainRecords({
      domain,
      mailHost: "mx1.bench-0.com",
      hosts: n === 0 ? hosts : [],
      sendingIps: ips.map((i) => i.ip),
      dkim: { selector: "pm1", publicKeyBase64: key },
      dmarcPolicy: "quarantine",
    });
    // SRV records as DNS serves them (Cloudflare derives the content from `data`).
    const published = records.map((r) =>
      r.type === "SRV" && r.data ? { ...r, content: `${r.data.priority} ${r.data.weight} ${r.data.port} ${r.data.target}` } : r,
    );
    return { domain, zone: { zone: domain }, records: published, sendingIps: ips };
  });
  const hostRecords = domains[0].records.filter((r) => r.type === "A");
  for (const d of domains.slice(1)) d.records.push(...hostRecords);
  const all = domains.flatMap((d) => d.records);
  const source = { records: () => all, ptr: (ip: string) => ips.find((i) => i.ip === ip)?.hostname };
  const auth = await new DnsSim(source).start();
  const resolver = await new DnsSim(source).start();
  const servers = {
    authoritative: [{ label: "authoritative", address: auth.address }],
    resolvers: [{ label: "resolver", address: resolver.address }],
  };
  try {
    let verified = 0;
    let notVerified: string[] = [];
    const one: number[] = [];
    const fifty: number[] = [];
    for (let r = 0; r < rounds; r++) {
      one.push(await ms(() => verifyDomain(domains[0], servers)));
      fifty.push(
        await ms(async () => {
          verified = 0;
          notVerified = [];
          for (let i = 0; i < domains.length; i += 10)
            for (const v of await Promise.all(domains.slice(i, i + 10).map((d) => verifyDomain(d, servers))))
              if (v.status === "verified") verified++;
              else notVerified.push(`${v.domain} ${v.status}: ${v.hints.join("; ")}`);
        }),
      );
    }
    const median = (l: number[]) => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)];
    return { oneDomainMs: median(one), fiftyDomainsMs: median(fifty), recordsPerDomain: domains[1].records.length, verified, notVerified };
  } finally {
    await auth.stop();
    await resolver.stop();
  }
}

export function printDomainVerification(b: DomainVerificationBench): void {
  console.log(
    `domain verification: 1 domain ${b.oneDomainMs.toFixed(0)} ms; 50 domains ${b.fiftyDomainsMs.toFixed(0)} ms (10 side by side); ` +
      `${b.recordsPerDomain} records a domain plus SPF/DKIM/DMARC parsed and 2 PTRs; ${b.verified}/50 verified`,
  );
  for (const l of b.notVerified) console.log(`  not verified: ${l}`);
}
