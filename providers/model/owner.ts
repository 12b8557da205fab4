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
 * The backend this process's Pulumi CLI uses: PULUMI_BACKEND_URL, or the `current` login in
 * PULUMI_HOME's credentials.json (what `pulumi login` writes), or undefined when neither says.
 */
export function backendUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PULUMI_BACKEND_URL) return env.PULUMI_BACKEND_URL;
  const home = env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
  try {
    const creds = JSON.parse(fs.readFileSync(path.join(home, "credentials.json"), "utf8")) as { current?: string };
    return creds.current || undefined;
  } catch {
    return undefined;
  }
}

/** 10 hex digits of the SHA-256 of the backend URL without query or trailing slash (a password in it never shows). */
export function backendFingerprint(url: string | undefined = backendUrl()): string {
  if (!url) return "unknown";
  const canonical = url.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 10);
}

const PREFIX = "penguinmails-infra owner";
const MARK = /^penguinmails-infra owner b=([0-9a-f]{10}|unknown) p=(\S+) s=(\S+) t=(\S+)$/;

/** The mark as text: `penguinmails-infra owner b=<fingerprint> p=<project> s=<stack> t=<tenant>`. */
export const ownerMark = (o: Owner): string => `${PREFIX} b=${o.backend} p=${o.project} s=${o.stack} t=${o.tenant}`;

export function parseOwnerMark(text: string | null | undefined): Owner | undefined {
  const m = MARK.exec(text ?? "");
  return m ? { backend: m[1], project: m[2], stack: m[3], tenant: m[4] } : undefined;
}

/** What today's code wrote before marks named an owner: ours, but whose is unknown. */
export const LEGACY_MARK = "managed by penguinmails-infra";

export const describeOwner = (o: Owner): string =>
  `tenant ${o.tenant} (stack ${o.stack}, project ${o.project}, backend ${o.backend})`;

/** Who a comment names, in words, for errors: an owner, a mark from an older version, or nobody of ours. */
export function describeComment(comment: string | null | undefined): string {
  const o = parseOwnerMark(comment);
  if (o) return describeOwner(o);
  if (comment === LEGACY_MARK) return "a stack of this project (an unmarked record made by an older version, owner unknown)";
  return "nobody in this project (made by hand or by another tool)";
}
