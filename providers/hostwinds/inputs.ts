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
    .string({ required_error: "is required", invalid_type_error: `must be a string (${what})` })
    .regex(SLUG, `must be 1-32 lowercase letters, digits or dashes, not starting or ending with a dash (${what})`);
const id = (what: string) =>
  z
    .number({ required_error: "is required", invalid_type_error: `must be a number (${what})` })
    .int(`must be a whole number (${what})`)
    .positive(`must be positive (${what})`);
export const hostname = z
  .string({ required_error: "is required" })
  .max(253, "must be at most 253 characters")
  .regex(HOSTNAME_ANY_CASE, "must be a fully qualified host name such as mail1.example.com");
const ipv4 = z.string().regex(IPV4, "must be an IPv4 address such as 198.51.100.7");

export const instanceInputsSchema = z.object({
  tenant: slug("the tenant id, e.g. acme"),
  name: slug("the server's logical name in the tenant, e.g. mx1"),
  location: id("a Hostwinds location id; see get_locations"),
  plan: id("a Hostwinds plan id (rid) from the price list"),
  template: z.string({ required_error: "is required" }).min(1, "must name an image (template UUID or name)"),
  billingCycle: z.enum(BILLING_CYCLES, { errorMap: () => ({ message: `must be one of ${BILLING_CYCLES.join(", ")}` }) }).default("monthly"),
  sshKeys: z.array(z.string().min(1, "SSH key names must not be empty")).default([]),
  adoptServiceId: id("the id of an existing server to take over instead of buying one").optional(),
});
export type InstanceInputs = z.infer<typeof instanceInputsSchema>;

export const secondaryIpInputsSchema = z.object({
  tenant: slug("the tenant id, e.g. acme"),
  serviceId: id("the id of the server the IP belongs to"),
  rdns: hostname,
  adoptIp: ipv4.optional(),
  /** IPs being retired: this slot neither keeps nor takes one of them (replaced, new one first). */
  retire: z.array(ipv4).default([]),
});
export type SecondaryIpInputs = z.infer<typeof secondaryIpInputsSchema>;

/** The server's name in Hostwinds: derived, so a server bought without an id can be found again. */
export const serverName = (tenant: string, name: string): string => `pm-${tenant}-${name}`;
/** Whether a server's name says it belongs to this tenant (every server this project manages is named so). */
export const belongsToTenant = (srvrname: string, tenant: string): boolean => srvrname.startsWith(`pm-${tenant}-`);
