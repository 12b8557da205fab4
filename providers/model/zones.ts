/**
 * Which Cloudflare zone a sending domain's records go in. A tenant's domains may each be their own
 * registered domain (acme-mail.com, tryacme.io), each its own zone: a domain names its zone, or the
 * zone is found among the zones the Cloudflare token can see, the one whose name is the longest
 * suffix of the domain (a delegated sub-zone such as mail.globex.io wins over globex.io, as DNS
 * itself answers from the most specific zone). The servers' host names stay in the tenant's `zone`.
 */
import { parse as parseDomain } from "tldts";

/** Whether `name` is the zone's apex or a name under it. */
export const inZone = (name: string, zone: string): boolean => name === zone || name.endsWith(`.${zone}`);

/** The zone among `zones` holding `name` (the longest suffix match), or undefined. */
export function zoneOfDomain(name: string, zones: readonly string[]): string | undefined {
  return zones.filter((z) => inZone(name, z)).sort((a, b) => b.length - a.length)[0];
}

export interface DomainZoneInput {
  name: string;
  zone?: string;
}

/**
 * Each domain's zone, without asking Cloudflare when the config settles it: named on the domain,
 * or the tenant's zone for the first domain (the servers' host names live there) and for a domain
 * that is that zone's apex. The rest need the token's zone list (`needsZoneList`).
 */
export function settledZone(d: DomainZoneInput, i: number, tenantZone: string): string | undefined {
  if (d.zone) return d.zone;
  if (i === 0 || d.name === tenantZone) return tenantZone;
  return undefined;
}

export const needsZoneList = (domains: DomainZoneInput[], tenantZone: string): boolean =>
  domains.some((d, i) => settledZone(d, i, tenantZone) === undefined);

/**
 * Every domain's zone, or one line per domain no visible zone holds (naming the tenant, the
 * domain and what to do). `visible` is the token's zone list (empty when it was not needed).
 */
export function domainZones(
  tenant: string,
  domains: DomainZoneInput[],
  tenantZone: string,
  visible: readonly string[],
): { zones: string[]; problems: string[] } {
  const zones: string[] = [];
  const problems: string[] = [];
  domains.forEach((d, i) => {
    const z = settledZone(d, i, tenantZone) ?? zoneOfDomain(d.name, visible);
    if (z) zones.push(z);
    else {
      zones.push("");
      problems.push(
        `tenant ${tenant}: tenant.domains[${i}] ${d.name}: no zone the Cloudflare token can see holds it ` +
          `(it sees ${visible.length ? visible.slice(0, 10).join(", ") + (visible.length > 10 ? ", …" : "") : "no zones"}); ` +
          `add the zone in Cloudflare and give the token access to it, or name it with domains[${i}].zone`,
      );
    }
  });
  return { zones, problems };
}

/**
 * Why `name` cannot be a sending domain of its own, or undefined: it must be a registrable domain
 * (under a public suffix of the ICANN section of the Public Suffix List, as tldts reads it) or a name under one.
 */
export function registrableProblem(name: string): string | undefined {
  const p = parseDomain(name);
  if (p.isIp || !p.isIcann || !p.domain)
    return `${name} is not a registrable domain (its public suffix is ${p.publicSuffix ?? "unknown"}); give a domain registered with a registrar, such as acme-mail.com, or a name under one`;
  return undefined;
}
