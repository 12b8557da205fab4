/**
 * MTA-STS (RFC 8461) of a sending domain, as a sender sees it: exactly one `_mta-sts` TXT with
 * `v=STSv1` and an id (§3.1); the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt served
 * with HTTP 200, a valid certificate for that name, no redirect and type text/plain (§3.3); the policy
 * parses (version STSv1, mode, max_age, mx lines, §3.2) and names every MX host (§4.1); and the id is
 * the one the stack derives from that very policy text (components/mail-records.ts `mtaStsId`), so it
 * changes whenever the policy does.
 */
import * as https from "https";
import * as tls from "tls";
import { mtaStsId } from "../../../components/mail-records";
import { NameServer, dnsName, lookup, mxHosts } from "./dns";
import { CheckResult } from "./result";

export interface MtaStsPolicy {
  version?: string;
  mode?: string;
  maxAge?: number;
  mx: string[];
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
export const MTA_STS_MAX_AGE_LIMIT = 31557600;
/** §3.3: senders may refuse bigger policies; 64 KiB is the size the RFC names. */
const MAX_POLICY_BYTES = 64 * 1024;

/** The policy file: `key: value` lines separated by CRLF or LF; unknown keys ignored; the first of a repeated key counts, except mx. */
export function parseMtaStsPolicy(text: string): { policy: MtaStsPolicy; problems: string[] } {
  const policy: MtaStsPolicy = { mx: [] };
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const i = line.indexOf(":");
    if (i < 0) {
      problems.push(`line "${line}" is not "key: value"`);
      continue;
    }
    const key = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (key === "mx") {
      policy.mx.push(value.toLowerCase());
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    if (key === "version") policy.version = value;
    else if (key === "mode") policy.mode = value;
    else if (key === "max_age") policy.maxAge = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  }
  if (policy.version !== "STSv1") problems.push(`version must be STSv1, found "${policy.version ?? ""}"`);
  if (!["enforce", "testing", "none"].includes(policy.mode ?? ""))
    problems.push(`mode must be enforce, testing or none, found "${policy.mode ?? ""}"`);
  if (policy.maxAge === undefined) problems.push("no max_age");
  else if (!Number.isFinite(policy.maxAge) || policy.maxAge > MTA_STS_MAX_AGE_LIMIT)
    problems.push(`max_age must be a whole number of seconds up to ${MTA_STS_MAX_AGE_LIMIT}`);
  if (policy.mode !== "none" && policy.mx.length === 0) problems.push("no mx line: senders could deliver nowhere");
  return { policy, problems };
}

/** §3.1: of the TXT records at _mta-sts, those starting with v=STSv1; exactly one, with id = 1 to 32 letters and digits. */
export function parseMtaStsTxt(records: string[]): { id?: string; problems: string[] } {
  const sts = records.filter((r) => /^v=STSv1\s*(;|$)/.test(r));
  if (sts.length === 0) return { problems: ["no TXT record starting v=STSv1 at _mta-sts"] };
  if (sts.length > 1) return { problems: [`${sts.length} TXT records starting v=STSv1 at _mta-sts: senders ignore them all`] };
  const id = /(?:^|;)\s*id=([^;\s]*)/.exec(sts[0])?.[1];
  if (!id || !/^[A-Za-z0-9]{1,32}$/.test(id)) return { problems: [`id must be 1 to 32 letters and digits, found "${id ?? ""}"`] };
  return { id, problems: [] };
}

/** §4.1: an mx pattern is a host name, or `*.` and a name matching exactly one more leftmost label. */
export function mxMatches(pattern: string, host: string): boolean {
  const p = dnsName(pattern);
  const h = dnsName(host);
  if (p.startsWith("*.")) {
    const rest = h.indexOf(".");
    return rest > 0 && h.slice(rest + 1) === p.slice(2);
  }
  return p === h;
}

export interface MtaStsFacts {
  txt: string[];
  /** The fetch: its body, or why there is none. */
  fetched: { body: string } | { error: string };
  /** The domain's MX hosts, as DNS serves them. */
  mxHosts: string[];
}

/** Everything wrong with a domain's MTA-STS, or a one-line summary when nothing is. */
export function judgeMtaSts(f: MtaStsFacts): { ok: boolean; problems: string[]; summary?: string } {
  const txt = parseMtaStsTxt(f.txt);
  const problems = [...txt.problems];
  if ("error" in f.fetched) return { ok: false, problems: [...problems, f.fetched.error] };
  const { policy, problems: bad } = parseMtaStsPolicy(f.fetched.body);
  problems.push(...bad);
  const unlisted = f.mxHosts.filter((h) => !policy.mx.some((p) => mxMatches(p, h)));
  if (unlisted.length)
    problems.push(
      `MX ${unlisted.join(", ")} not among the policy's mx (${policy.mx.join(", ") || "none"}): senders in enforce mode refuse to deliver there`,
    );
  if (!f.mxHosts.length) problems.push("the domain has no MX record to compare the policy with");
  const derived = mtaStsId(f.fetched.body);
  if (txt.id && txt.id !== derived)
    problems.push(
      `the _mta-sts id ${txt.id} is not the served policy's (${derived}): the id must change whenever the policy does, or senders keep the old one (RFC 8461 §3.1)`,
    );
  if (problems.length) return { ok: false, problems };
  return {
    ok: true,
    problems: [],
    summary: `mode ${policy.mode}, mx ${policy.mx.join(", ")}, max_age ${policy.maxAge} s; id ${txt.id} matches the policy served`,
  };
}

export interface HttpsOptions {
  /** Reach every mta-sts.<domain> at this address instead of its DNS name (tests). */
  host?: string;
  port?: number;
  /** Extra trusted CA (PEM). */
  ca?: string;
  timeoutMs?: number;
}

/** GET of the policy as §3.3 asks: trusted certificate for the name, 200, text/plain, no redirect followed. */
export function fetchPolicy(domain: string, o: HttpsOptions = {}): Promise<{ body: string } | { error: string }> {
  const name = `mta-sts.${domain}`;
  const url = `https://${name}/.well-known/mta-sts.txt`;
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: o.host ?? name,
        port: o.port ?? 443,
        path: "/.well-known/mta-sts.txt",
        servername: name,
        headers: { host: name },
        ...(o.ca ? { ca: [...tls.rootCertificates, o.ca] } : {}),
        timeout: o.timeoutMs ?? 10_000,
        agent: false,
      },
      (res) => {
        const type = String(res.headers["content-type"] ?? "");
        if (res.statusCode !== 200) {
          res.resume();
          const where = res.headers.location ? ` to ${res.headers.location} (redirects must not be followed)` : "";
          return resolve({ error: `${url} answered HTTP ${res.statusCode}${where}` });
        }
        if (!/^text\/plain\b/i.test(type)) {
          res.resume();
          return resolve({ error: `${url} is served as "${type}", not text/plain` });
        }
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
          if (body.length > MAX_POLICY_BYTES) req.destroy(new Error(`policy larger than ${MAX_POLICY_BYTES} bytes`));
        });
        res.on("end", () => resolve({ body }));
        res.on("error", (e) => resolve({ error: `${url}: ${e.message}` }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${(o.timeoutMs ?? 10_000) / 1000} s`)));
    req.on("error", (e) => resolve({ error: `cannot fetch ${url}: ${e.message}` }));
  });
}

export function mtaStsResult(domain: string, v: ReturnType<typeof judgeMtaSts>): CheckResult {
  return { check: "mta-sts", subject: domain, status: v.ok ? "pass" : "fail", detail: v.ok ? v.summary! : v.problems.join("; ") };
}

/** The domain's MTA-STS as a sender judges it: its `_mta-sts` TXT, the policy fetched, the MX hosts it must name. */
export async function checkMtaSts(domain: string, server: NameServer, https: HttpsOptions): Promise<CheckResult> {
  const txt = await lookup(server.address, "TXT", `_mta-sts.${domain}`);
  const fetched = await fetchPolicy(domain, https);
  return mtaStsResult(domain, judgeMtaSts({ txt: Array.isArray(txt) ? txt : [], fetched, mxHosts: await mxHosts(domain, server) }));
}
