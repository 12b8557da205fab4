/**
 * Parsing what a sending domain publishes: SPF (does it cover every sending
 * IP, within 10 DNS lookups), DMARC (a valid policy and reporting address)
 * and DKIM (a usable RSA public key).
 */
import { createPublicKey } from "crypto";
import { SPF_LOOKUP_LIMIT, countSpfLookups } from "../../../components/mail-records";

export interface SpfVerdict {
  ok: boolean;
  problems: string[];
  lookups: number;
}

const ipToInt = (ip: string) => ip.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits = "32"] = cidr.split("/");
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (ipToInt(ip) & mask) === (ipToInt(base) & mask);
}

export function checkSpf(record: string | undefined, sendingIps: string[]): SpfVerdict {
  if (!record) return { ok: false, problems: ["no SPF record (TXT v=spf1) at the domain"], lookups: 0 };
  const terms = record.trim().split(/\s+/);
  const problems: string[] = [];
  if (terms[0] !== "v=spf1") problems.push(`does not start with v=spf1: "${record}"`);
  const all = terms.find((t) => /^[+\-~?]?all$/.test(t));
  if (!all) problems.push("has no all mechanism at the end");
  else if (all === "+all" || all === "all") problems.push("ends in +all: anyone may send as the domain");
  const ip4 = terms.filter((t) => /^\+?ip4:/.test(t)).map((t) => t.replace(/^\+?ip4:/, ""));
  const uncovered = sendingIps.filter((ip) => !ip4.some((c) => inCidr(ip, c)));
  if (uncovered.length) problems.push(`does not cover sending IP${uncovered.length > 1 ? "s" : ""} ${uncovered.join(", ")}`);
  const lookups = countSpfLookups(record);
  if (lookups > SPF_LOOKUP_LIMIT) problems.push(`needs ${lookups} DNS lookups, over the limit of ${SPF_LOOKUP_LIMIT}`);
  return { ok: problems.length === 0, problems, lookups };
}

/** A tag list (`name=value; …`: DMARC, RFC 7489 §6.4; TLS-RPT, RFC 8460 §3) as [name, value] pairs in order, names lowercased. */
function tagList(record: string): Array<[string, string]> {
  return record
    .split(";")
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const i = t.indexOf("=");
      return [t.slice(0, i).trim().toLowerCase(), t.slice(i + 1).trim()];
    });
}

export function checkDmarc(record: string | undefined): { ok: boolean; problems: string[]; policy?: string } {
  if (!record) return { ok: false, problems: ["no DMARC record at _dmarc"] };
  const tags = Object.fromEntries(tagList(record));
  const problems: string[] = [];
  if (tags.v !== "DMARC1") problems.push(`v must be DMARC1 and come first, found "${tags.v ?? ""}"`);
  if (!["none", "quarantine", "reject"].includes(tags.p ?? ""))
    problems.push(`p must be none, quarantine or reject, found "${tags.p ?? ""}"`);
  if (tags.rua && !tags.rua.split(",").every((u) => /^mailto:[^@\s]+@[^@\s]+$/.test(u.trim())))
    problems.push(`rua must be mailto: addresses, found "${tags.rua}"`);
  if (!tags.rua) problems.push("no rua: aggregate reports go nowhere");
  return { ok: problems.length === 0, problems, policy: tags.p };
}

export function checkDkim(record: string | undefined, expected: string | undefined): { ok: boolean; problems: string[]; bits?: number } {
  if (!record) return { ok: false, problems: ["no DKIM record"] };
  const problems: string[] = [];
  const p = /(?:^|;)\s*p=([A-Za-z0-9+/=]+)/.exec(record)?.[1];
  let bits: number | undefined;
  if (!/^v=DKIM1\b/.test(record)) problems.push("does not start with v=DKIM1");
  if (!p) problems.push("has no public key (p=)");
  else {
    try {
      const key = createPublicKey({ key: Buffer.from(p, "base64"), format: "der", type: "spki" });
      bits = key.asymmetricKeyDetails?.modulusLength;
      if (key.asymmetricKeyType !== "rsa") problems.push(`key is ${key.asymmetricKeyType}, not RSA`);
      else if ((bits ?? 0) < 1024) problems.push(`key has ${bits} bits, fewer than 1024`);
    } catch {
      problems.push("p= is not a public key");
    }
  }
  if (expected !== undefined && record !== expected) problems.push("differs from the key the stack made");
  return { ok: problems.length === 0, problems, bits };
}

/** A DNS blocklist's answer: NXDOMAIN not listed; 127.255.255.x an error of the list (never "listed"); other 127.x listed. */
export function blocklistVerdict(answer: string[] | "NXDOMAIN" | Error): "listed" | "not listed" | "unknown" {
  if (answer === "NXDOMAIN") return "not listed";
  if (answer instanceof Error || answer.length === 0) return "unknown";
  if (answer.every((a) => a.startsWith("127.255.255."))) return "unknown";
  return answer.some((a) => a.startsWith("127.") && !a.startsWith("127.255.255.")) ? "listed" : "unknown";
}

/**
 * The mailto: addresses a DMARC record (rua, ruf; RFC 7489 §6.4, a URI with an optional `!size`
 * suffix, §6.2) or a TLS-RPT record (rua; RFC 8460 §3) names for reports. Other URIs (https:) are
 * returned apart: no mailbox to ask.
 */
export function reportUris(record: string | undefined, tags: string[]): { mailto: string[]; other: string[] } {
  const out = { mailto: [] as string[], other: [] as string[] };
  if (!record) return out;
  for (const [name, value] of tagList(record)) {
    if (!tags.includes(name)) continue;
    for (const raw of value
      .split(",")
      .map((u) => u.trim())
      .filter(Boolean)) {
      const uri = raw.replace(/!\d+[kmgt]?$/i, "");
      if (/^mailto:/i.test(uri)) {
        let address = uri.slice("mailto:".length).split("?")[0];
        try {
          address = decodeURIComponent(address);
        } catch {
          // left as written
        }
        out.mailto.push(address.toLowerCase());
      } else out.other.push(uri);
    }
  }
  return out;
}
