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
  .loose();
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
  const data = z.object({ success: z.unknown() }).loose().safeParse(json);
  if (data.success && "success" in data.data) return { kind: "data", data: data.data.success };
  if (single.success) return { kind: "results", items: [single.data] };
  return { kind: "error", message: "the response had neither a success nor a result field" };
}

/**
 * The shape of an answer, never its values (an answer may hold a root password): keys and types,
 * three levels deep, the first item of a list, e.g. `{success: {locations: [{location_id: string, …}]}}`.
 */
export function shapeOf(v: unknown, depth = 3): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "[]" : depth <= 0 ? "[…]" : `[${shapeOf(v[0], depth - 1)}${v.length > 1 ? ", …" : ""}]`;
  if (typeof v === "object") {
    const keys = Object.keys(v as object);
    if (depth <= 0) return keys.length ? "{…}" : "{}";
    const shown = keys.slice(0, 6).map((k) => `${/^\d+$/.test(k) ? "<id>" : k}: ${shapeOf((v as Record<string, unknown>)[k], depth - 1)}`);
    return `{${shown.join(", ")}${keys.length > 6 ? ", …" : ""}}`;
  }
  return typeof v;
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
    /**
     * The server's IPs. PM server-management documents the field (`ips` array|null: shared reference
     * hostwinds-api.md); what an entry holds is [assumed] (ASSUMPTIONS: ips in get_instances): an address
     * or an object with `ip`, both read. Left undefined when the answer has no such list.
     */
    ips: z
      .array(z.union([z.string(), z.object({ ip: z.string() }).loose()]))
      .nullish()
      .transform((v) => v?.map((x) => (typeof x === "string" ? x : x.ip)))
      .catch(undefined),
  })
  .loose();
export type Instance = z.infer<typeof instanceSchema>;

export const instanceListSchema = z.array(instanceSchema);

/**
 * get_instance_ips → {"IP Addresses": [{"ip": …}, …]}; the main IP is in the list (PHP2
 * set_domains.php reads `success["IP Addresses"][i].ip`). PM networking.md shows a bare array
 * instead; both are accepted. Any per-IP field but `ip` is [assumed] (see ASSUMPTIONS: rdns).
 */
const ipEntry = z.object({ ip: z.string(), rdns: optionalText }).loose();
export const instanceIpsSchema = z
  .union([z.object({ "IP Addresses": z.array(ipEntry) }).loose(), z.array(ipEntry)])
  .transform((v) => (Array.isArray(v) ? v : v["IP Addresses"]));
/** An IP on a server; `rdns` only when Hostwinds reports it (no public source says it does). */
export type InstanceIp = { ip: string; rdns?: string };

/** Whether two lists hold the same addresses, in any order. */
export function sameAddresses(a: string[], b: string[]): boolean {
  const x = new Set(a);
  return x.size === new Set(b).size && b.every((ip) => x.has(ip));
}

/** Hostwinds returns some lists as arrays and some as objects keyed by id; accept both. */
const listOf = <T extends z.ZodTypeAny>(item: T) =>
  z.union([z.array(item), z.record(z.string(), item)]).transform((v): z.output<T>[] => (Array.isArray(v) ? v : Object.values(v)));

export const locationSchema = z.object({ id: num, name: z.string() }).loose();
export type Location = z.infer<typeof locationSchema>;
export const locationListSchema = listOf(locationSchema);

const price = z
  .union([z.number(), z.string()])
  .nullish()
  .transform((v) => (v === null || v === undefined || v === "" ? undefined : Number(v)));
export const planSchema = z
  .object({
    /** The plan's product id. Not what add_instance takes. (PM upgrade-billing.md lists `id` and `rid` apart.) */
    id: num,
    /** The resource id add_instance and upgrade_instance take (TF variables.tf: "Resource ID from get_price_list"). */
    rid: num,
    name: z.string(),
    monthly: price,
    quarterly: price,
    semiannually: price,
    annually: price,
    biennially: price,
    triennially: price,
    hourly: price,
  })
  .loose();
export type Plan = z.infer<typeof planSchema>;
/**
 * get_price_list → {"success": {<key>: plan, …}} (PM upgrade-billing.md; an array is accepted too).
 * PM: `managed` defaults to 1, so the client asks for unmanaged plans (managed=0) — our servers are
 * unmanaged, and a managed plan's rid would buy a managed (dearer) server.
 */
export const priceListSchema = listOf(planSchema);
export const PRICE_LIST_PARAMS = { managed: 0 } as const;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * [assumed] get_public_images answers {"success": [image, …]} (or an object keyed by id) where an
 * image has a UUID and a name. Only the action's name and that it is where add_instance's
 * `template` UUIDs come from are public (TF add-instance/variables.tf); the shape is not.
 */
export const imageSchema = z
  .object({
    uuid: z.string().optional(),
    id: z.union([z.string(), z.number()]).optional(),
    name: z.string(),
  })
  .loose()
  .transform((i, ctx) => {
    const uuid = i.uuid ?? (typeof i.id === "string" && UUID.test(i.id) ? i.id : undefined);
    if (!uuid) {
      ctx.addIssue({ code: "custom", message: `image ${i.name} has no uuid` });
      return z.NEVER;
    }
    return { uuid, name: i.name };
  });
export type Image = { uuid: string; name: string };
export const imageListSchema = listOf(imageSchema);

/** The readable form of an image name that a tenant config uses: "Debian 12" → "debian-12". */
export const imageSlug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, "-")
    .replace(/^-+|-+$/g, "");

export const sshKeySchema = z.object({ name: z.string() }).loose();

/**
 * [assumed] No public source names the action that buys a secondary IP (PM overview.md lists
 * "secondary IP" as a gap; its networking.md says "Allocate new IP via Hostwinds portal/API").
 * The name is a provider setting (`hostwinds:ipPurchaseAction`, default below) so it can follow
 * Hostwinds' docs without a code change; the stand-in can be told another name.
 */
export const DEFAULT_IP_PURCHASE_ACTION = "add_ip";
export const ipPurchaseParams = (serviceId: number) => ({ serviceid: serviceId, qty: 1 });

/**
 * [assumed] A purchase answer may name what was bought (a field `ip`, `ips` or `serviceid` in a
 * result item). No source shows one (PM's add_instance answer has none); the provider uses it when
 * present and never needs it.
 */
export function purchasedIpIn(items: ResultItem[]): string | undefined {
  for (const i of items) {
    const v = (i as Record<string, unknown>).ip ?? (i as Record<string, unknown>).ips;
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === "string" && /^\d{1,3}(\.\d{1,3}){3}$/.test(first)) return first;
  }
  return undefined;
}

/**
 * [assumed] `reinstall_instance` (serviceid, template) rebuilds the OS on the same VPS and keeps its
 * IPs; the server leaves ACTIVE while it rebuilds and comes back ACTIVE with the same root password.
 * Only PM's rewrite of the docs names the action and its answer ([D]); nothing shows the status or
 * the password afterwards.
 */
export const REINSTALL_ACTION = "reinstall_instance";

/**
 * [assumed] A plan change of the same server: `upgrade_instance` (serviceid, rid) pays for it; the
 * server goes through a resize and reports `RESIZED`, and `confirm_upgrade` makes it ACTIVE on the
 * new plan with its IPs and disks. PM upgrade-billing.md names the actions and the status ([D]);
 * no source shows whether payment is automatic or how long the resize takes.
 */
export const UPGRADE_ACTION = "upgrade_instance";

/** [assumed] The action listing the account's SSH keys (add/delete are in TF; the list is not). */
export const LIST_SSH_KEYS_ACTION = "get_ssh_keys";

/**
 * [assumed] The reverse DNS a fresh IP carries before anyone sets it: none, or a Hostwinds
 * default name. Only used when get_instance_ips reports rDNS at all.
 */
export function isDefaultRdns(rdns: string | undefined, ip: string): boolean {
  if (!rdns) return true;
  return /(^|\.)hostwindsdns\.com\.?$/i.test(rdns) || /(^|\.)hostwinds\.(com|net)\.?$/i.test(rdns) || rdns.includes(ip.replace(/\./g, "-"));
}

/**
 * Every field and action this project uses that no public source settles, with what depends on
 * it and what the provider does without it. The assumptions table in docs/contributors.md is this list; the
 * stand-in (scripts/dev/standins/hostwinds.ts) can remove or change each one (`wire` options) and
 * the engine tests run the lifecycle both ways.
 */
export const ASSUMPTIONS = [
  {
    what: "OS reinstall on the same VPS `reinstall_instance` (serviceid, template), keeping IPs and root password",
    dependsOnIt:
      "an image change in the config (hostwinds.OsImage: backup, reinstall, the SSH steps again) and `fleet rebuild --reinstall` (a broken server back with its IPs)",
    without:
      "a reinstall that moved the IPs or changed the password is reported (run `up --refresh`); without the action, an image change stops before the reinstall (Invalid Action, nothing lost) and a broken server is rebuilt as a new one: terminate and `fleet up --refresh` (new IPs, warm-up restarts)",
  },
  {
    what: "secondary-IP purchase action `add_ip` (serviceid, qty)",
    dependsOnIt: "buying sending IPs",
    without: "setting hostwinds:ipPurchaseAction names the real action; stand-in switch ipPurchaseAction",
  },
  {
    what: "`rdns` per entry of get_instance_ips",
    dependsOnIt: "seeing an rDNS changed in the panel (drift)",
    without:
      "ownership comes from state and the order journal, never from rDNS; refresh keeps the rDNS it set (stand-in switch rdnsInIpList: false)",
  },
  {
    what: "a purchase answer naming the IP bought",
    dependsOnIt: "nothing (used when present)",
    without: "the new IP is the one not on the server before the order (stand-in switch purchaseAnswerIp)",
  },
  {
    what: "get_public_images answers a list of {uuid, name}",
    dependsOnIt: "image names in tenant configs (debian-12 → UUID)",
    without: "give the template UUID itself as `image`; it is sent unchanged",
  },
  {
    what: "get_ssh_keys lists the account's SSH key names",
    dependsOnIt: "the catalogue and the config check of sshKeys",
    without: "Hostwinds refuses an unknown key at add_instance",
  },
  {
    what: "get_locations answers a list of {id, name}",
    dependsOnIt: "the catalogue and the config check of location",
    without: 'Hostwinds refuses a bad location_id at add_instance ("Location Id is invalid.")',
  },
  {
    what: "instance `product_id` is the price list's `id` of the server's plan",
    dependsOnIt: "noticing a server on another plan than the config's (adoption, refresh)",
    without: "a product_id that maps to no plan in the list is not compared",
  },
  {
    what: "an IP order can be held for hours or days (IP justification, KB 55) and then appears in get_instance_ips",
    dependsOnIt: "pending IP orders",
    without: "stand-in option ipDelayMs (kept across restarts with --state)",
  },
  {
    what: "a server name comes back as sent (`srvrname` in add_instance and edit_instance): lowercase letters, digits and `-`, 32 characters",
    dependsOnIt:
      "recognising a server bought by a run that stopped before saving it; the owner mark and the IP order journal in the name (inputs.ts, orders.ts)",
    without:
      "a purchase is found by the service ids before and after it, and the mark written again by id (edit_instance); a name the panel changes is refused by adoption, never bought again (stand-in switch serverNames)",
  },
  {
    what: "plan change in place: `upgrade_instance` (serviceid, rid), status RESIZED, then `confirm_upgrade`",
    dependsOnIt: "a plan change keeping the server, its IPs and mail",
    without:
      "a plan change stops before paying when the account's plan cannot be read (product_id); without RESIZED the upgrade is done when the server is ACTIVE on the new plan (stand-in switch upgradeConfirm: false)",
  },
  {
    what: "get_instances lists each server's IPs in `ips`, the same addresses get_instance_ips lists",
    dependsOnIt:
      "drift inventory in one listing per account (fleet drift): get_instance_ips only for the account's first server, to check the listing against it and whether rDNS is reported",
    without:
      "an account whose listing lacks `ips` or disagrees with get_instance_ips, or that reports rDNS, is read one get_instance_ips per server as before (stand-in switch ipsInInstanceList: false)",
  },
  {
    what: "no action reports an IP order's state or cancels it (none is named in any source: hostwinds-api.md §4)",
    dependsOnIt: "orders settle only by an arriving IP or a refused purchase, never by a timeout (secondary-ip.ts, orders.ts)",
    without: "an operator who sees in the panel that an order does not exist removes its journal entry from the server's name",
  },
] as const;
