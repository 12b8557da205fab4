/**
 * What a user writes for a Hostwinds server or secondary IP, as zod schemas
 * (checked by `checkInputs` in providers/lib/dynamic.ts), and the derived
 * server names.
 */
import { createHash } from "crypto";
import { z } from "zod";
import { BILLING_CYCLES } from "../model/pricing";
import { HOSTNAME_ANY_CASE, IPV4, SLUG } from "../model/names";
import { backendFingerprint as ownerBackendFingerprint } from "../model/owner";

const slug = (what: string) =>
  z
    .string({ error: (i) => (i.input === undefined ? "is required" : `must be a string (${what})`) })
    .regex(SLUG, `must be 1-32 lowercase letters, digits or dashes, not starting or ending with a dash (${what})`);
const id = (what: string) =>
  z
    .number({ error: (i) => (i.input === undefined ? "is required" : `must be a number (${what})`) })
    .int(`must be a whole number (${what})`)
    .positive(`must be positive (${what})`);
export const hostname = z
  .string({ error: (i) => (i.input === undefined ? "is required" : undefined) })
  .max(253, "must be at most 253 characters")
  .regex(HOSTNAME_ANY_CASE, "must be a fully qualified host name such as mail1.example.com");
const ipv4 = z.string().regex(IPV4, "must be an IPv4 address such as 198.51.100.7");
/** Pulumi's own rule for stack names (letters, digits, `-`, `_`, `.`). */
const stack = z
  .string({ error: (i) => (i.input === undefined ? "is required" : "must be a string (the Pulumi stack's name)") })
  .regex(/^[A-Za-z0-9_.-]{1,100}$/, "must be a Pulumi stack name (letters, digits, -, _ and .)");

export const instanceInputsSchema = z.object({
  tenant: slug("the tenant id, e.g. acme"),
  name: slug("the server's logical name in the tenant, e.g. mx1"),
  /** The stack that owns the server: part of its mark, so two stacks never share a tenant's servers. */
  stack,
  /** The Pulumi project and a fingerprint of the backend (`backendFingerprint`): the rest of the owner, part of the mark. */
  project: z.string().max(100).optional(),
  backend: z
    .string()
    .regex(/^([0-9a-f]{8})?$/, "must be a backend fingerprint (8 hex characters)")
    .optional(),
  location: id("a Hostwinds location id; see get_locations"),
  plan: id("a Hostwinds plan rid from the price list"),
  template: z
    .string({ error: (i) => (i.input === undefined ? "is required" : undefined) })
    .min(1, "must name an image (a name such as debian-12, or a template UUID)"),
  billingCycle: z.enum(BILLING_CYCLES, { error: () => `must be one of ${BILLING_CYCLES.join(", ")}` }).default("monthly"),
  sshKeys: z.array(z.string().min(1, "SSH key names must not be empty")).default([]),
  adoptServiceId: id("the id of an existing server to take over instead of buying one").optional(),
  /** The server's host name: its main IP's reverse DNS (PTR), set with set_rdns and kept. */
  rdns: hostname.optional(),
  /**
   * This server may be replaced (terminated and bought again, losing its mail, IPs and their
   * warm-up) when a change cannot be made in place. Off: such a change is refused in preview.
   */
  allowReplace: z.boolean().optional(),
});
export type InstanceInputs = z.infer<typeof instanceInputsSchema>;

export const secondaryIpInputsSchema = z.object({
  tenant: slug("the tenant id, e.g. acme"),
  stack: stack.optional(),
  /** The server's owner mark (Instance.serverName): IPs are bought on and released from that server only. */
  serverMark: z.string().optional(),
  /** This slot's stable name among the server's IPs (the resource's name). */
  slot: z.string().min(1).optional(),
  /** Every slot of the same server in this program: a new slot waits to learn what they hold before claiming an IP. */
  siblings: z.array(z.string().min(1)).default([]),
  serviceId: id("the id of the server the IP belongs to"),
  rdns: hostname,
  adoptIp: ipv4.optional(),
  /** IPs being retired: this slot neither keeps nor takes one of them (replaced, new one first). */
  retire: z.array(ipv4).default([]),
});
export type SecondaryIpInputs = z.infer<typeof secondaryIpInputsSchema>;

const imageName = (what: string) =>
  z.string({ error: (i) => (i.input === undefined ? "is required" : undefined) }).min(1, `must name an image (${what})`);

export const osImageInputsSchema = z.object({
  tenant: slug("the tenant id, e.g. acme"),
  /** The server's logical name in the tenant (for messages). */
  name: slug("the server's logical name in the tenant, e.g. mx1"),
  stack: stack.optional(),
  /** The server (Instance.serviceId): a new server is a new OsImage. */
  serviceId: id("the id of the server whose image this is"),
  /** The server's owner mark (Instance.serverName): a server carrying another is never reinstalled. */
  serverMark: z.string().optional(),
  /** The image the server is to run: a public image's name (debian-13) or a template UUID. A change is a reinstall. */
  template: imageName("a name such as debian-13, or a template UUID"),
  /** The image the server was bought with (Instance.template): no reinstall while the two are the same. */
  builtWith: imageName("the Instance's template"),
});
export type OsImageInputs = z.infer<typeof osImageInputsSchema>;

/**
 * Who owns a server: the backend (a short fingerprint of its URL, `backendFingerprint`), the Pulumi
 * project, the stack, the tenant and the server's logical name. Kept in full in the resource's
 * inputs and state; the server's name in Hostwinds carries a hash of it (`serverName`).
 */
export interface ServerOwner {
  backend: string;
  project: string;
  stack: string;
  tenant: string;
  server: string;
}

const B36 = "0123456789abcdefghijklmnopqrstuvwxyz";
/** `width` base-36 characters of SHA-256 of the parts (unambiguous: parts are joined with a newline none contains). */
function tag(width: number, ...parts: string[]): string {
  const digest = createHash("sha256").update(parts.join("\n")).digest();
  let n = digest.readBigUInt64BE(0);
  let out = "";
  for (let i = 0; i < width; i++) {
    out = B36[Number(n % 36n)] + out;
    n /= 36n;
  }
  return out;
}

/**
 * A server's name in Hostwinds is its owner's mark, `pm-<tenant tag><stack tag><server tag>`:
 * - only lowercase letters, digits and one dash, and at most 32 characters with the order journal
 *   (orders.ts) appended. No public source says what Hostwinds keeps of a server name
 *   (ASSUMPTIONS: server names); a host name label allows these characters and every panel seen
 *   keeps them, so a panel that drops other characters, lower-cases or cuts at 32 leaves it whole;
 * - hashes, because tenant (32), server (32), stack (100), project and backend do not fit in 32
 *   characters. The full owner is in the resource's inputs and state; the provider recomputes the
 *   mark from them and compares, so a server is this resource's only if its name is exactly its mark;
 * - the tenant tag (6 characters, of the tenant id) and the stack tag (5, of backend, project and
 *   stack) apart, so a second stack (or the same stack name on another backend) claiming a tenant
 *   another stack runs is seen before it buys; the server tag (3) tells a stack's servers apart.
 * A server is never recognised by its name alone after a purchase: the new server is the one
 * whose service id was not in the account before (instance.ts).
 */
export const MARK_PREFIX = "pm-";
export const serverName = (o: ServerOwner): string =>
  MARK_PREFIX + tag(6, "tenant", o.tenant) + stackTag(o) + tag(3, "server", o.backend, o.project, o.stack, o.tenant, o.server);
export const stackTag = (o: Pick<ServerOwner, "backend" | "project" | "stack">): string => tag(5, "stack", o.backend, o.project, o.stack);
export const tenantTag = (tenant: string): string => tag(6, "tenant", tenant);
/** A mark's length: `pm-` and the three tags. */
export const MARK_LENGTH = 17;
/** The longest server name: the mark (17) and three open IP orders of 5 characters (orders.ts). */
export const MAX_SERVER_NAME = 32;

export interface ServerMark {
  mark: string;
  tenantTag: string;
  stackTag: string;
}
const MARK = /^pm-([0-9a-z]{6})([0-9a-z]{5})([0-9a-z]{3})((?:[0-9a-z]{5}){0,3})$/;
/** The owner tags a server's name declares (the order journal after the mark is ignored), or undefined for an unmarked server. */
export function parseServerName(srvrname: string): ServerMark | undefined {
  const m = MARK.exec(srvrname);
  return m ? { mark: srvrname.slice(0, MARK_LENGTH), tenantTag: m[1], stackTag: m[2] } : undefined;
}
/** The owner of a resource's inputs (project and backend are "" in a state written before they were inputs). */
export const ownerOf = (i: { tenant: string; name: string; stack: string; project?: string; backend?: string }): ServerOwner => ({
  backend: i.backend ?? "",
  project: i.project ?? "",
  stack: i.stack,
  tenant: i.tenant,
  server: i.name,
});
export const describeOwner = (o: ServerOwner) =>
  `tenant ${o.tenant}, server ${o.server}, stack ${o.stack}${o.project ? `, project ${o.project}` : ""}${o.backend ? `, backend ${o.backend}` : ""}`;
/** What a mark that is not this owner's says about whose it is. */
export function describeOtherMark(m: ServerMark, o: ServerOwner): string {
  if (m.tenantTag !== tenantTag(o.tenant)) return `marked ${m.mark}, another tenant's server`;
  if (m.stackTag !== stackTag(o)) return `marked ${m.mark}: tenant ${o.tenant}'s server in another stack, project or backend`;
  return `marked ${m.mark}: another server of tenant ${o.tenant} in this stack`;
}

/**
 * The backend's fingerprint as the server marks carry it: the one of providers/model/owner.ts (DNS
 * records carry the same), "" where that says "-" (no backend found), as marks made before read.
 */
export function backendFingerprint(env: NodeJS.ProcessEnv = process.env): string {
  const f = ownerBackendFingerprint(env);
  return f === "-" ? "" : f;
}

/**
 * The mark of a server from an Instance's raw inputs as a checkpoint holds them (a pending create's
 * too): undefined when they name no tenant or server. `stack` stands in where the inputs name none.
 */
export function markOfInputs(i: Record<string, unknown>, stack: string): string | undefined {
  if (typeof i.tenant !== "string" || typeof i.name !== "string") return undefined;
  return serverName(
    ownerOf({
      tenant: i.tenant,
      name: i.name,
      stack: typeof i.stack === "string" ? i.stack : stack,
      project: typeof i.project === "string" ? i.project : undefined,
      backend: typeof i.backend === "string" ? i.backend : undefined,
    }),
  );
}
