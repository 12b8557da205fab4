/**
 * Hostwinds servers and IPs that no stack owns: money spent on nothing, released only when that is
 * certain. Three rules keep a live tenant's resources out of it:
 *
 * - The owner set is every stack in the backend (`pulumi stack ls --all`, every project), read from
 *   their states, never from config files or name patterns: a tenant whose config file was removed
 *   (offboarding) or whose stack name is not a config file's still owns what its state holds. A
 *   stack owns its resources' servers and IPs, and what its pending operations are creating (an
 *   interrupted or running `up`: the server's owner mark from the inputs, IPs on the server).
 * - A server whose owner mark (providers/hostwinds/inputs.ts) names a stack that is locked or
 *   updating is held back, with everything on it, and so is every IP on a server with open IP
 *   orders (providers/hostwinds/orders.ts): a run may be buying there right now.
 * - Releasing takes two scans separated by a grace period (`--grace`, owner set and locks read
 *   again), releases only what both found unowned, and only servers older than `--min-age` by
 *   Hostwinds' `created_at` (unknown age: held). An IP's age is not reported by Hostwinds: the two
 *   scans and its server's age are what judge it.
 *
 * Candidates are only servers named by this project (its mark, or the older `pm-` names): anything
 * else in the account is not ours to release. And a mark is only ours when it names this backend:
 * a server mark is a hash of backend, project, stack, tenant and server (inputs.ts), so from another
 * backend on the same account every server of this one looks unowned. A server is an orphan only
 * when its mark's stack tag is one of this backend's stacks (each stack's own, and every owner an
 * Instance in its state names) and that stack does not hold it; any other mark of ours, and an older
 * `pm-` name that names no backend, is foreign: reported, never released (issue 31). A server of a
 * stack since removed from this backend is foreign too (its tag cannot be told from another
 * backend's). A dry run by default; releasing needs --release and --yes.
 */
import { HostwindsClient } from "../../../providers/hostwinds/client";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../../providers/hostwinds";
import { markOfInputs, parseServerName, stackTag } from "../../../providers/hostwinds/inputs";
import { splitName } from "../../../providers/hostwinds/orders";
import { BillingCycle, monthlyPriceUsd } from "../../../providers/model/pricing";
import { clientOptions, readSettings } from "../../../providers/hostwinds/settings";
import { defaultPriceBook } from "../../../providers/hostwinds/catalog";

export interface Orphan {
  kind: "server" | "ip";
  serviceId: number;
  server: string;
  ip?: string;
  monthlyUsd: number;
  /** Why it is not released even though no stack owns it. */
  held?: string;
  /** Marked by another backend (or a stack no longer in this one): reported, never released. */
  foreign?: boolean;
  released?: boolean;
}

/** One stack's state as the owner set needs it. */
export interface StackState {
  /** The stack's name in its project (what owner marks carry). */
  stack: string;
  /** Its Pulumi project (what owner marks carry); the fleet's project when not given. */
  project?: string;
  /** Locked or updating, or unknown: its servers are held back. */
  busy?: string;
  resources: Array<{ type: string; id?: string; outputs?: Record<string, unknown> }>;
  pending: Array<{ type: string; resource: { type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> } }>;
}

export interface Owned {
  serviceIds: Set<number>;
  /** Owner marks (server names without their order journal). */
  marks: Set<string>;
  ips: Set<string>;
  /** Servers with an IP being created right now or by an interrupted run. */
  ipPendingOn: Set<number>;
  /** Busy stacks by name, with why. */
  busy: Map<string, string>;
  /** Busy stacks by the stack tag their servers' marks carry (inputs.ts), when their state names the owner. */
  busyTags?: Map<string, string>;
  /** The stack tags (inputs.ts) of this backend's stacks: only a mark with one of them can be an orphan here. */
  stackTags: Set<string>;
}

/** Whose backend the owner set was read from: its fingerprint as server marks carry it (inputs.ts) and the fleet's project. */
export interface OwnerScope {
  backend: string;
  project: string;
}

const str = (v: unknown) => (typeof v === "string" ? v : "");
const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined);
const IPV4_ID = /^\d{1,3}(\.\d{1,3}){3}$/;
/** The address an IP slot holds: its `ip` output; an id only when it is an address (state written before `ip` was an output). */
export function ipOf(r: { id?: string; outputs?: Record<string, unknown> }): string | undefined {
  const ip = r.outputs?.ip;
  if (typeof ip === "string") return ip || undefined;
  return r.id && IPV4_ID.test(r.id) ? r.id : undefined;
}

/** What the stacks' states own: resources, and what pending operations are creating. */
export function ownedBy(stacks: StackState[], scope: OwnerScope): Owned {
  const owned: Owned = {
    serviceIds: new Set(),
    marks: new Set(),
    ips: new Set(),
    ipPendingOn: new Set(),
    busy: new Map(),
    busyTags: new Map(),
    stackTags: new Set(),
  };
  for (const s of stacks) {
    // This backend's stacks: the tag each would mark a server with, and the owner its Instances name
    // (a state written before marks named project and backend names "" for them).
    owned.stackTags.add(stackTag({ backend: scope.backend, project: s.project ?? scope.project, stack: s.stack }));
    for (const r of [...s.resources, ...s.pending.map((op) => op.resource)]) {
      const i = { ...(("inputs" in r ? r.inputs : undefined) ?? {}), ...(r.outputs ?? {}) };
      if (r.type === INSTANCE_TYPE && typeof i.tenant === "string")
        owned.stackTags.add(
          stackTag({ backend: str(i.backend), project: str(i.project), stack: typeof i.stack === "string" ? i.stack : s.stack }),
        );
    }
    if (s.busy) owned.busy.set(s.stack, s.busy);
    // A busy stack's servers: its marks' stack tag, from any Instance's owner in state or in a pending create.
    if (s.busy)
      for (const r of [...s.resources, ...s.pending.map((op) => op.resource)]) {
        const i = { ...(("inputs" in r ? r.inputs : undefined) ?? {}), ...(r.outputs ?? {}) };
        if (r.type === INSTANCE_TYPE && typeof i.tenant === "string")
          owned.busyTags!.set(
            stackTag({ backend: str(i.backend), project: str(i.project), stack: typeof i.stack === "string" ? i.stack : s.stack }),
            `stack ${s.stack} is ${s.busy}`,
          );
      }
    for (const r of s.resources) {
      const id = num(r.outputs?.serviceId);
      if (r.type === INSTANCE_TYPE) {
        if (id !== undefined) owned.serviceIds.add(id);
        if (typeof r.outputs?.serverName === "string") owned.marks.add(splitName(r.outputs.serverName).mark);
      }
      // An IP slot owns the address in its outputs, whatever its resource id looks like: a slot that
      // began as a pending order keeps its `order-…` id after the IP arrives (never infer from an id's shape).
      if (r.type === SECONDARY_IP_TYPE) {
        const ip = ipOf(r);
        if (ip) owned.ips.add(ip);
        // A slot still pending on an order may be answered by any IP that appears on its server.
        if (r.outputs?.status === "purchasing" && id !== undefined) owned.ipPendingOn.add(id);
      }
    }
    for (const op of s.pending) {
      const i = { ...op.resource.inputs, ...op.resource.outputs };
      if (op.resource.type === INSTANCE_TYPE) {
        const mark = markOfInputs(i, s.stack);
        if (mark) owned.marks.add(mark);
        const adopt = num(i.adoptServiceId) ?? num(i.serviceId);
        if (adopt !== undefined) owned.serviceIds.add(adopt);
      }
      if (op.resource.type === SECONDARY_IP_TYPE) {
        const on = num(i.serviceId);
        if (on !== undefined) owned.ipPendingOn.add(on);
        if (typeof i.ip === "string") owned.ips.add(i.ip);
      }
    }
  }
  return owned;
}

export function hostwindsFromEnv(): { client: HostwindsClient; ipMonthlyPriceUsd: number } {
  const s = readSettings(() => undefined);
  return { client: new HostwindsClient(clientOptions(s)), ipMonthlyPriceUsd: s.ipMonthlyPriceUsd };
}

export interface OrphanRules {
  /** Servers younger than this (by created_at) are held; default 1 day. */
  minAgeMs: number;
  now?: number;
}

/** One scan: every unowned server or IP of ours, with `held` set when it must not be released now. */
export async function findOrphans(client: HostwindsClient, owned: Owned, ipMonthlyPriceUsd: number, rules: OrphanRules): Promise<Orphan[]> {
  const book = defaultPriceBook();
  const now = rules.now ?? Date.now();
  const out: Orphan[] = [];
  for (const server of await client.listInstances()) {
    const { mark, orders } = splitName(server.srvrname);
    const owner = parseServerName(mark);
    // Ours: marked, or named in an older `pm-…` form. A mark is a hash of its owner (inputs.ts) and names
    // no stack to ask, so any busy stack holds every server of ours.
    if (!owner && !server.srvrname.startsWith("pm-")) continue;
    const serverOwned = owned.serviceIds.has(server.serviceid) || owned.marks.has(mark);
    // Another backend's mark (or an older name that names none): never this backend's to release.
    const foreign = !serverOwned && !(owner && owned.stackTags.has(owner.stackTag));
    // A busy stack holds its own servers; one whose state names no owner yet (and an unmarked
    // server) is held by any busy stack.
    const tagged = new Set(owned.busyTags?.values() ?? []);
    const untagged = [...owned.busy].map(([name, why]) => `stack ${name} is ${why}`).find((w) => !tagged.has(w));
    const anyBusy = owned.busy.size ? `stack ${[...owned.busy][0][0]} is ${[...owned.busy][0][1]}` : undefined;
    const busy = (owner ? owned.busyTags?.get(owner.stackTag) : anyBusy) ?? untagged;
    const created = Date.parse(String((server as Record<string, unknown>).created_at ?? ""));
    const held = busy
      ? busy
      : Number.isNaN(created)
        ? "Hostwinds reports no creation time, so its age is unknown"
        : now - created < rules.minAgeMs
          ? `it is younger than the minimum age (created ${new Date(created).toISOString()})`
          : undefined;
    const ips = await client.listIps(server.serviceid);
    const secondary = ips.filter((i) => i.ip !== server.main_ip);
    if (!serverOwned) {
      const plan = book.plans.find((p) => p.id === server.product_id);
      const serverUsd = (plan && monthlyPriceUsd(plan, (server.billingcycle ?? "monthly") as BillingCycle)) ?? 0;
      out.push({
        kind: "server",
        serviceId: server.serviceid,
        server: server.srvrname,
        monthlyUsd: Math.round((serverUsd + secondary.length * ipMonthlyPriceUsd) * 100) / 100,
        held: foreign
          ? owner
            ? `foreign: its mark names no stack of this backend (a stack on another backend or project on this account, or one removed from this backend); left alone`
            : "foreign: an older name that names no backend; left alone"
          : held,
        ...(foreign ? { foreign: true } : {}),
      });
      continue;
    }
    // Open orders in the journal hold the server's unclaimed IPs only while a slot waits for them (a
    // pending slot or a pending create) or the stack is busy: an order whose run died with its slot
    // unsaved, and that no slot awaits, is money spent on nothing once its IP arrives.
    const ipHeld =
      busy !== undefined
        ? busy
        : owned.ipPendingOn.has(server.serviceid)
          ? `a slot of this server's stack awaits an IP on server ${mark} (${orders.length} open order${orders.length === 1 ? "" : "s"}; see fleet recover)`
          : held;
    for (const ip of secondary)
      if (!owned.ips.has(ip.ip))
        out.push({
          kind: "ip",
          serviceId: server.serviceid,
          server: server.srvrname,
          ip: ip.ip,
          monthlyUsd: ipMonthlyPriceUsd,
          held: ipHeld,
        });
  }
  return out;
}

const key = (o: Orphan) => `${o.kind}:${o.serviceId}:${o.ip ?? ""}`;

/** What may be released: unowned and not held in both scans. */
export function releasable(first: Orphan[], second: Orphan[]): Orphan[] {
  const before = new Set(first.filter((o) => !o.held).map(key));
  return second.filter((o) => !o.held && before.has(key(o)));
}

export async function releaseOrphans(client: HostwindsClient, orphans: Orphan[], log: (line: string) => void): Promise<void> {
  for (const o of orphans) {
    if (o.kind === "server") await client.terminate(o.serviceId);
    else await client.deleteIp(o.serviceId, o.ip!);
    o.released = true;
    log(
      `released ${o.kind === "server" ? `server ${o.server} (${o.serviceId}) and its IPs` : `IP ${o.ip} on ${o.server}`}: −$${o.monthlyUsd.toFixed(2)}/month`,
    );
  }
}
