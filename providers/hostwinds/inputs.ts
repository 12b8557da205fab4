/**
 * What a user writes for a Hostwinds server or secondary IP, as zod schemas
 * (checked by `checkInputs` in providers/lib/dynamic.ts), and the derived
 * server names.
 */
import { z } from "zod";
import { BILLING_CYCLES } from "../model/pricing";
import { HOSTNAME_ANY_CASE, IPV4, SLUG } from "../model/names";

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
});
export type InstanceInputs = z.infer<typeof instanceInputsSchema>;

export const secondaryIpInputsSchema = z.object({
  tenant: slug("the tenant id, e.g. acme"),
  stack: stack.optional(),
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

/**
 * A server's name in Hostwinds is its owner's mark: `pm-<tenant>.<server>@<stack>`. Derived, so a
 * server bought without an id can be found again; unambiguous, because tenant and server ids are
 * slugs (no `.` or `@`) and stack names have no `@`: tenant `alpha` with server `eu-mx1` is
 * `pm-alpha.eu-mx1@…`, tenant `alpha-eu` with server `mx1` is `pm-alpha-eu.mx1@…`.
 * Marks are compared by exact match of all three parts, never by prefix.
 */
export const serverName = (tenant: string, name: string, stackName: string): string => `pm-${tenant}.${name}@${stackName}`;

export interface ServerMark {
  tenant: string;
  server: string;
  stack: string;
}
const MARK = /^pm-([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?)\.([a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?)@([A-Za-z0-9_.-]{1,100})(?:~[0-9a-z.]*)?$/;
/** The owner a server's name declares (after `~` comes the order journal, orders.ts), or undefined for an unmarked server. */
export function parseServerName(srvrname: string): ServerMark | undefined {
  const m = MARK.exec(srvrname);
  return m ? { tenant: m[1], server: m[2], stack: m[3] } : undefined;
}
export const describeMark = (m: ServerMark) => `tenant ${m.tenant}, server ${m.server}, stack ${m.stack}`;
/** Whether the mark is exactly this owner's (tenant and stack; and server when given). */
export const markIs = (m: ServerMark | undefined, owner: { tenant: string; stack?: string; server?: string }): boolean =>
  m !== undefined &&
  m.tenant === owner.tenant &&
  (owner.stack === undefined || m.stack === owner.stack) &&
  (owner.server === undefined || m.server === owner.server);
