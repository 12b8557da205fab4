/**
 * The Hostwinds wire format, and only here: a form-encoded POST with `action`
 * and `API`, PHP-style arrays (`keys[]`), HTTP 200 for errors too, and two
 * success shapes: `{"success": …}` for reads and `[{"result": …}]` for changes.
 * See ../shared/reference/hostwinds-api.md; assumptions are marked [assumed].
 */
import { z } from "zod";

export const DEFAULT_API_URL = "https://clients.hostwinds.com/cloud/api.php";

export type FormValue = string | number | boolean | string[] | undefined;

/** Encodes parameters the way PHP reads them: arrays as repeated `name[]`. */
export function encodeForm(fields: Record<string, FormValue>): string {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) body.append(`${k}[]`, item);
    else body.append(k, String(v));
  }
  return body.toString();
}

const resultItem = z
  .object({
    result: z.string(),
    action: z.string().optional(),
    message: z.string().optional(),
    ERROR: z.union([z.string(), z.number()]).optional(),
  })
  .passthrough();
export type ResultItem = z.infer<typeof resultItem>;

/** A parsed response: data for reads, result items for changes, or an error message. */
export type Parsed =
  { kind: "data"; data: unknown } | { kind: "results"; items: ResultItem[] } | { kind: "error"; message: string; code?: string };

export function parseBody(text: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Never echo the body: it may hold a root password.
    return { kind: "error", message: `the response was not JSON (${text.length} bytes)` };
  }
  const list = z.array(resultItem).safeParse(json);
  if (list.success && list.data.length > 0) {
    const err = list.data.find((i) => i.result === "error");
    if (err) return { kind: "error", message: err.message ?? "unknown error", code: err.ERROR?.toString() };
    return { kind: "results", items: list.data };
  }
  const single = resultItem.safeParse(json);
  if (single.success && single.data.result === "error") {
    return { kind: "error", message: single.data.message ?? "unknown error", code: single.data.ERROR?.toString() };
  }
  const data = z.object({ success: z.unknown() }).passthrough().safeParse(json);
  if (data.success && "success" in data.data) return { kind: "data", data: data.data.success };
  if (single.success) return { kind: "results", items: [single.data] };
  return { kind: "error", message: "the response had neither a success nor a result field" };
}

/** Hostwinds messages that mean "not now" rather than "no". */
export function isTransientMessage(message: string): boolean {
  return /too many requests|rate limit|try again|temporarily|timed? ?out|maintenance/i.test(message);
}

export const INVALID_SERVICE_ID = "A valid serviceid is required.";

const num = z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number);
const optionalText = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);

/** The fields of an instance the provider uses; others pass through unread. */
export const instanceSchema = z
  .object({
    serviceid: num,
    srvrname: z
      .string()
      .nullish()
      .transform((v) => v ?? ""),
    hostname: optionalText,
    status: z.string(),
    main_ip: optionalText,
    location_id: num.optional(),
    product_id: num.optional(),
    billingcycle: optionalText,
    template_uuid: optionalText,
    ssh_keys: z
      .array(z.string())
      .nullish()
      .transform((v) => v ?? []),
    password: optionalText,
    configkey: optionalText,
  })
  .passthrough();
export type Instance = z.infer<typeof instanceSchema>;

export const instanceListSchema = z.array(instanceSchema);

/** get_instance_ips → {"IP Addresses": [{"ip": …, …}]}; the main IP is in the list. */
export const instanceIpsSchema = z.object({
  "IP Addresses": z.array(z.object({ ip: z.string(), rdns: optionalText }).passthrough()),
});
export type InstanceIp = { ip: string; rdns?: string };

/** Hostwinds returns some lists as arrays and some as objects keyed by id; accept both. */
const listOf = <T extends z.ZodTypeAny>(item: T) =>
  z.union([z.array(item), z.record(item)]).transform((v): z.output<T>[] => (Array.isArray(v) ? v : Object.values(v)));

export const locationSchema = z.object({ id: num, name: z.string() }).passthrough();
export type Location = z.infer<typeof locationSchema>;
export const locationListSchema = listOf(locationSchema);

const price = z
  .union([z.number(), z.string()])
  .nullish()
  .transform((v) => (v === null || v === undefined || v === "" ? undefined : Number(v)));
export const planSchema = z
  .object({
    id: num,
    name: z.string(),
    monthly: price,
    quarterly: price,
    semiannually: price,
    annually: price,
    biennially: price,
    triennially: price,
    hourly: price,
  })
  .passthrough();
export type Plan = z.infer<typeof planSchema>;
/** get_price_list → {"success": {<key>: plan, …}} (an object of plans; an array is accepted too). */
export const priceListSchema = listOf(planSchema);

export const sshKeySchema = z.object({ name: z.string() }).passthrough();

/**
 * [assumed] No public source names the action that buys a secondary IP. This is
 * the one place the client states it: name, parameters, and that the new IP
 * shows up in get_instance_ips after a while. The stand-in states the same in
 * scripts/dev/standins/hostwinds.ts. Change both if Hostwinds' docs say otherwise.
 */
export const SECONDARY_IP_PURCHASE = {
  action: "add_ip",
  params: (serviceId: number) => ({ serviceid: serviceId, qty: 1 }),
} as const;

/** [assumed] The action listing the account's SSH keys (add/delete are documented; the list is not). */
export const LIST_SSH_KEYS_ACTION = "get_ssh_keys";

/**
 * [assumed] The reverse DNS a fresh IP carries before anyone sets it: none, or
 * a Hostwinds default name. A secondary IP that is not the main IP and still
 * has such a name is owned by nobody; the provider claims IPs by setting rDNS.
 */
export function isDefaultRdns(rdns: string | undefined, ip: string): boolean {
  if (!rdns) return true;
  return /(^|\.)hostwindsdns\.com\.?$/i.test(rdns) || /(^|\.)hostwinds\.(com|net)\.?$/i.test(rdns) || rdns.includes(ip.replace(/\./g, "-"));
}
