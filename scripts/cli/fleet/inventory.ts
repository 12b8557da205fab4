/**
 * Inventory drift: the real world listed in bulk (each Hostwinds account's
 * servers and their IPs, each Cloudflare token's zones and their records, page
 * by page) compared with the last-known world in the checkpoints. Only the
 * tenants that differ (or whose checkpoint cannot be read) go to the engine.
 * The comparison follows what the providers' `read` looks at, so a tenant the
 * inventory calls the same is one a refresh would find unchanged.
 */
import { CloudflareClient, CloudflareRecord, cloudflareSettings } from "../../../providers/cloudflare/client";
import { HostwindsClient } from "../../../providers/hostwinds/client";
import { Instance, InstanceIp, instanceIpsSchema, sameAddresses } from "../../../providers/hostwinds/wire";
import { KnownRecord, LastKnown } from "./checkpoints";
import { splitName } from "../../../providers/hostwinds/orders";
import { defaultPriceBook } from "../../../providers/hostwinds/catalog";
import { readSettings } from "../../../providers/hostwinds/settings";
import { budgetLimitFrom } from "../../../providers/lib/budget";
import { cloudflareTokens, hostwindsKeys } from "../../lib/stacks/credentials";
import { FleetProject } from "../../lib/stacks/tenants";

export interface RealServer {
  serviceId: number;
  name: string;
  status: string;
  plan?: number;
  location?: number;
  billingCycle?: string;
  /** IP → rDNS (undefined when Hostwinds does not report it). */
  ips: Map<string, string | undefined>;
}

/** The real world as listed: servers by service id, records by zone id then record id. */
export interface RealWorld {
  servers: Map<number, RealServer>;
  zones: Map<string, Map<string, CloudflareRecord>>;
  /** Zones (by name) the listing could not read: their tenants go to the engine. */
  unreadableZones: Map<string, string>;
  calls: { hostwinds: number; cloudflare: number };
}

export interface InventorySources {
  /** One client per Hostwinds account (API key) the fleet uses. */
  hostwinds: HostwindsClient[];
  /** One client per Cloudflare token the fleet uses. */
  cloudflare: CloudflareClient[];
  /** Requests at once per account or token (default 4). */
  concurrency?: number;
  /** Only servers named like ours are read further (their IPs); default `pm-`. */
  serverPrefix?: string;
  log?: (line: string) => void;
}

async function eachLimited<T>(items: T[], limit: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      while (next < items.length) await f(items[next++]);
    }),
  );
}

/**
 * Lists the real world: per Hostwinds account one `get_instances`, then the IPs of each server of
 * ours. When the listing carries each server's `ips` (ASSUMPTIONS: ips in get_instances), one
 * `get_instance_ips` of the account's first server checks it: the same addresses and no rDNS
 * reported (rDNS is only in get_instance_ips, and drift compares it) → the listing's IPs serve
 * for every server, 2 calls per account. Otherwise one `get_instance_ips` per server, as the
 * provider's refresh reads them. Per Cloudflare token its zones (50 a page) and each zone's
 * records (one page for a tenant's zone).
 */
export async function realWorld(s: InventorySources): Promise<RealWorld> {
  const world: RealWorld = { servers: new Map(), zones: new Map(), unreadableZones: new Map(), calls: { hostwinds: 0, cloudflare: 0 } };
  const prefix = s.serverPrefix ?? "pm-";
  const limit = s.concurrency ?? 4;
  const book = defaultPriceBook();
  const hostwinds = async (client: HostwindsClient) => {
    world.calls.hostwinds++;
    const servers = (await client.listInstances()).filter((i) => i.srvrname.startsWith(prefix));
    const add = (i: Instance, ips: InstanceIp[] | undefined) =>
      world.servers.set(i.serviceid, {
        serviceId: i.serviceid,
        name: i.srvrname,
        status: i.status,
        // State holds the plan's rid; [assumed] product_id is the price list's id (as the provider reads it).
        plan: book.plans.find((p) => p.id === i.product_id)?.rid ?? i.product_id,
        location: i.location_id,
        billingCycle: i.billingcycle,
        ips: new Map((ips ?? []).map((x) => [x.ip, x.rdns || undefined])),
      });
    const eachServer = (list: Instance[]) =>
      eachLimited(list, limit, async (i) => {
        world.calls.hostwinds++;
        add(i, await client.listIps(i.serviceid).catch(() => undefined));
      });
    const [first, ...rest] = servers;
    const checked = first && servers.every((i) => i.ips !== undefined) ? await firstServerIps(client, first, world) : undefined;
    const listed = checked?.ips;
    const listingServes =
      !!checked &&
      !checked.rdnsField &&
      sameAddresses(
        first.ips!,
        checked.ips.map((x) => x.ip),
      );
    if (listingServes) {
      add(first, listed);
      for (const i of rest)
        add(
          i,
          i.ips!.map((ip) => ({ ip })),
        );
    } else if (listed !== undefined) {
      add(first, listed);
      await eachServer(rest);
    } else await eachServer(servers);
    s.log?.(
      `inventory: ${servers.length} servers in a Hostwinds account` +
        (servers.length ? (listingServes ? ", their IPs from the listing" : ", their IPs one server at a time") : ""),
    );
  };
  const cloudflare = async (client: CloudflareClient) => {
    const zones = await client.zones(() => world.calls.cloudflare++);
    await eachLimited(zones, limit, async (zone) => {
      try {
        const records = await client.listAll(zone.id, () => world.calls.cloudflare++);
        world.zones.set(zone.id, new Map(records.map((r) => [r.id, r])));
      } catch (e) {
        world.unreadableZones.set(zone.name, (e as Error).message);
      }
    });
    s.log?.(`inventory: ${zones.length} zones for a Cloudflare token`);
  };
  // Every account and token at once: each spends only its own budget, so listing them a few at a
  // time would leave budgets idle (10 Hostwinds accounts 4 at a time took 3 × their listing time).
  await Promise.all([...s.hostwinds.map(hostwinds), ...s.cloudflare.map(cloudflare)]);
  return world;
}

const same = (a: unknown, b: unknown) => a === undefined || b === undefined || a === b;

function recordDifference(k: KnownRecord, r: CloudflareRecord | undefined): string | undefined {
  const what = `${k.resource} (${k.type} ${k.name})`;
  if (!r) return `${what}: record ${k.recordId} is gone`;
  if (r.type !== k.type || r.name !== k.name.toLowerCase()) return `${what}: now ${r.type} ${r.name}`;
  if (k.type !== "SRV" && r.content !== k.content) return `${what}: content changed`;
  if (!same(k.ttl, r.ttl) || !same(k.proxied, r.proxied ?? false) || !same(k.priority, r.priority ?? undefined))
    return `${what}: ttl, proxy or priority changed`;
  return undefined;
}

/**
 * The first server's IPs by get_instance_ips, and whether its answer has an `rdns` field at all (even
 * empty: the account reports rDNS, so drift must read every server's); undefined when unreadable.
 */
async function firstServerIps(
  client: HostwindsClient,
  first: Instance,
  world: RealWorld,
): Promise<{ ips: InstanceIp[]; rdnsField: boolean } | undefined> {
  world.calls.hostwinds++;
  try {
    const r = await client.send("get_instance_ips", "read", { serviceid: first.serviceid });
    const answer = r.kind === "data" ? r.data : r.items;
    const parsed = instanceIpsSchema.safeParse(answer);
    if (!parsed.success) return undefined;
    return {
      ips: parsed.data.map((x) => ({ ip: x.ip, rdns: x.rdns })),
      rdnsField: parsed.data.some((x) => Object.prototype.hasOwnProperty.call(x, "rdns")),
    };
  } catch {
    return undefined;
  }
}

/**
 * Where a tenant's last-known world and the real world differ, one line each
 * (empty: nothing to refresh). An unreadable checkpoint or zone is a difference:
 * only the engine can tell.
 */
export function differences(known: LastKnown, world: RealWorld): string[] {
  if (known.unreadable) return [known.unreadable];
  const out: string[] = [];
  for (const k of known.servers) {
    const r = world.servers.get(k.serviceId);
    if (!r) out.push(`${k.resource}: server ${k.serviceId} is gone`);
    else {
      // The state keeps the name's owner mark; an order journal after it is the provider's own.
      if (splitName(r.name).mark !== k.serverName) out.push(`${k.resource}: server ${k.serviceId} renamed to ${r.name}`);
      if (r.status !== k.status) out.push(`${k.resource}: server ${k.serviceId} is ${r.status}`);
      if (!same(k.plan, r.plan) || !same(k.location, r.location) || !same(k.billingCycle, r.billingCycle))
        out.push(`${k.resource}: server ${k.serviceId} plan, location or billing changed`);
      // The main IP's PTR, when Hostwinds reports rDNS (as the provider's refresh reads it).
      const ptr = k.rdns && k.mainIp ? r.ips.get(k.mainIp) : undefined;
      if (ptr !== undefined && ptr !== k.rdns) out.push(`${k.resource}: rDNS of main IP ${k.mainIp} changed`);
    }
  }
  for (const k of known.ips) {
    const server = world.servers.get(k.serviceId);
    if (!server) out.push(`${k.resource}: server ${k.serviceId} of IP ${k.ip || "(on order)"} is gone`);
    else if (!k.ip)
      continue; // still an order: only an up settles it
    else if (!server.ips.has(k.ip)) out.push(`${k.resource}: IP ${k.ip} is no longer on server ${k.serviceId}`);
    else if (server.ips.get(k.ip) !== undefined && server.ips.get(k.ip) !== k.rdns) out.push(`${k.resource}: rDNS of ${k.ip} changed`);
  }
  for (const k of known.records) {
    const why = world.unreadableZones.get(k.zone);
    if (why) {
      out.push(`${k.resource}: zone ${k.zone} could not be listed (${why})`);
      continue;
    }
    const zone = world.zones.get(k.zoneId);
    const d = zone ? recordDifference(k, zone.get(k.recordId)) : `${k.resource}: zone ${k.zone} (${k.zoneId}) is not visible to any token`;
    if (d) out.push(d);
  }
  return out;
}

/** Clients for every account and token in the environment, or undefined when there is none of either. */
export function fleetInventorySources(
  _project: FleetProject,
  _tenants: string[],
  env: NodeJS.ProcessEnv = process.env,
): InventorySources | undefined {
  const keys = hostwindsKeys(env);
  const tokens = cloudflareTokens(env);
  if (!keys.length && !tokens.length) return undefined;
  const hw = keys.length ? readSettings(() => undefined, { ...env, HOSTWINDS_API_KEY: keys[0].secret }) : undefined;
  const cf = cloudflareSettings(() => undefined, env);
  return {
    hostwinds: keys.map(
      (k) =>
        new HostwindsClient({
          apiKey: k.secret,
          apiUrl: hw!.apiUrl,
          // The per-URL limiter would make every account share one rate: each key has its own budget instead.
          requestsPerSecond: 0,
          requestTimeoutMs: hw!.requestTimeoutMs,
          budget:
            budgetLimitFrom(
              "HOSTWINDS_BUDGET",
              env.HOSTWINDS_BUDGET,
              hw!.requestsPerSecond > 0 ? { capacity: 10, perSecond: hw!.requestsPerSecond } : undefined,
            ) ?? null,
        }),
    ),
    cloudflare: tokens.map((t) => new CloudflareClient({ apiToken: t.secret, baseUrl: cf.baseUrl })),
  };
}
