/**
 * Who owns a thing this project creates: the backend (by a fingerprint of its URL, never the URL,
 * which may hold credentials), the Pulumi project, the stack and the tenant. Two stacks of the same
 * name on two backends, or in two projects, are two owners: a mark equal in all four parts is the
 * only proof of ownership, never a resource id's shape or a name that merely looks like ours.
 *
 * DNS records carry the mark as their Cloudflare `comment` (providers/cloudflare/dns-record.ts).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface Owner {
  /** A fingerprint of the backend URL (backendFingerprint). */
  backend: string;
  project: string;
  stack: string;
  tenant: string;
}

/**
 * A short fingerprint of the backend this program's state lives in (PULUMI_BACKEND_URL, or the
 * login in PULUMI_HOME's credentials.json): 8 hex characters of SHA-256 of the URL without its
 * user and password and trailing slash, so the same stack name on another backend is another
 * owner, a rotated backend password is not, and no credential shows. "-" when no backend is found.
 * The server marks use this one too (providers/hostwinds/inputs.ts, "" for "-"):
 * one backend, one fingerprint on servers and records alike.
 */
export function backendFingerprint(env: NodeJS.ProcessEnv = process.env): string {
  return fingerprintOf(backendUrl(env));
}

export function backendUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PULUMI_BACKEND_URL) return env.PULUMI_BACKEND_URL;
  try {
    const home = env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    return (JSON.parse(fs.readFileSync(path.join(home, "credentials.json"), "utf8")) as { current?: string }).current || undefined;
  } catch {
    return undefined;
  }
}

export function fingerprintOf(url: string | undefined): string {
  if (!url) return "-";
  const clean = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1").replace(/\/+$/, "");
  return createHash("sha256").update(clean).digest("hex").slice(0, 8);
}

const PREFIX = "penguinmails-infra owner";
const MARK = /^penguinmails-infra owner b=([0-9a-f]{8}|-) p=(\S+) s=(\S+) t=(\S+)$/;

/** The mark as text: `penguinmails-infra owner b=<fingerprint> p=<project> s=<stack> t=<tenant>`. */
export const ownerMark = (o: Owner): string => `${PREFIX} b=${o.backend} p=${o.project} s=${o.stack} t=${o.tenant}`;

export function parseOwnerMark(text: string | null | undefined): Owner | undefined {
  const m = MARK.exec(text ?? "");
  return m ? { backend: m[1], project: m[2], stack: m[3], tenant: m[4] } : undefined;
}

/** What today's code wrote before marks named an owner: ours, but whose is unknown. */
export const LEGACY_MARK = "managed by penguinmails-infra";

export const describeOwner = (o: Owner): string => `tenant ${o.tenant} (stack ${o.stack}, project ${o.project}, backend ${o.backend})`;

/** Who a comment names, in words, for errors: an owner, a mark from an older version, or nobody of ours. */
export function describeComment(comment: string | null | undefined): string {
  const o = parseOwnerMark(comment);
  if (o) return describeOwner(o);
  if (comment === LEGACY_MARK) return "a stack of this project (an unmarked record made by an older version, owner unknown)";
  return "nobody in this project (made by hand or by another tool)";
}
