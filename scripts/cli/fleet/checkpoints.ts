/**
 * The last-known world, read straight from the backend's checkpoints: no
 * engine run, no CLI call per tenant. A DIY backend (a folder, or Pulumi's
 * Postgres table: backend.ts reads both) keeps one checkpoint per stack: in
 * project mode (`.pulumi/meta.yaml` says version 1) at
 * `.pulumi/stacks/<project>/<stack>.json`, in the older layout at
 * `.pulumi/stacks/<stack>.json`; `.json.gz` when PULUMI_DIY_BACKEND_GZIP is on
 * (`.json.zst` with PULUMI_DIY_BACKEND_ZSTD). The checkpoint is `{"version":3,"checkpoint":{"stack","latest":{"manifest",
 * "secrets_providers","resources":[{urn,id,type,outputs,…}],"pending_operations"}}}`
 * (the checkpoint format `pulumi stack export` prints the `latest` part of, as
 * `deployment`). Only plain outputs are read; secrets stay encrypted.
 */
import * as fs from "fs";
import * as path from "path";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../../providers/hostwinds";
import { DNS_RECORD_TYPE } from "../../../providers/cloudflare";
import { StateStore, checkpointText } from "./backend";

export interface KnownServer {
  resource: string;
  serviceId: number;
  serverName: string;
  status: string;
  plan?: number;
  location?: number;
  billingCycle?: string;
  /** The main IP and the PTR the stack keeps on it (Instance `rdns`; absent when not managed). */
  mainIp?: string;
  rdns?: string;
}
export interface KnownIp {
  resource: string;
  serviceId: number;
  ip: string;
  rdns: string;
}
export interface KnownRecord {
  resource: string;
  zone: string;
  zoneId: string;
  recordId: string;
  type: string;
  name: string;
  content: string;
  ttl?: number;
  proxied?: boolean;
  priority?: number;
}

/** What one tenant's checkpoint says it owns; `unreadable` when the engine must look instead. */
export interface LastKnown {
  tenant: string;
  servers: KnownServer[];
  ips: KnownIp[];
  records: KnownRecord[];
  unreadable?: string;
}

export interface CheckpointResource {
  urn: string;
  id?: string;
  type: string;
  outputs?: Record<string, unknown>;
}

/** The checkpoint file of a stack in a file backend (project mode or the older layout), or undefined when it has none. */
export function checkpointFile(backendDir: string, project: string, stack: string): string | undefined {
  const root = path.join(backendDir, ".pulumi", "stacks");
  const projectMode = fs.existsSync(path.join(backendDir, ".pulumi", "meta.yaml"));
  const base = projectMode ? path.join(root, project, stack) : path.join(root, stack);
  for (const f of [`${base}.json`, `${base}.json.gz`]) if (fs.existsSync(f)) return f;
  return undefined;
}

export interface PendingOperation {
  type: string;
  resource: { urn: string; type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
}

/** Parses a checkpoint's JSON text into its resources and pending operations. */
export function parseCheckpoint(text: string): { resources: CheckpointResource[]; pending: PendingOperation[]; time?: string } {
  const doc = JSON.parse(text) as {
    version?: number;
    checkpoint?: { latest?: { manifest?: { time?: string }; resources?: CheckpointResource[]; pending_operations?: PendingOperation[] } };
  };
  if (doc.version !== 3) throw new Error(`checkpoint version ${doc.version} (expected 3)`);
  const latest = doc.checkpoint?.latest;
  // manifest.time: when the checkpoint was written (the last update's time).
  return { resources: latest?.resources ?? [], pending: latest?.pending_operations ?? [], time: latest?.manifest?.time };
}

/** Parses a checkpoint file (plain or compressed) into its resources and pending operations. */
export function readCheckpoint(file: string): { resources: CheckpointResource[]; pending: PendingOperation[] } {
  return parseCheckpoint(checkpointText(file, fs.readFileSync(file)));
}

const isSecret = (v: unknown) => typeof v === "object" && v !== null && "4dabf18193072939515e22adb298388d" in v;
const str = (v: unknown) => (typeof v === "string" ? v : isSecret(v) ? undefined : v === undefined ? undefined : String(v));
const num = (v: unknown) => (typeof v === "number" ? v : undefined);
const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

/** What a checkpoint's resources own in Hostwinds and Cloudflare. */
export function ownedResources(tenant: string, resources: CheckpointResource[]): LastKnown {
  const out: LastKnown = { tenant, servers: [], ips: [], records: [] };
  for (const r of resources) {
    const o = r.outputs ?? {};
    if (r.type === INSTANCE_TYPE && typeof o.serviceId === "number")
      out.servers.push({
        resource: nameOf(r.urn),
        serviceId: o.serviceId,
        serverName: str(o.serverName) ?? "",
        status: str(o.status) ?? "",
        plan: num(o.plan),
        location: num(o.location),
        billingCycle: str(o.billingCycle),
        mainIp: str(o.mainIp),
        rdns: str(o.rdns),
      });
    else if (r.type === SECONDARY_IP_TYPE && typeof o.serviceId === "number")
      // An IP still on order has no address yet ("" here).
      out.ips.push({
        resource: nameOf(r.urn),
        serviceId: o.serviceId,
        ip: o.status === "purchasing" ? "" : (str(o.ip) ?? r.id ?? ""),
        rdns: str(o.rdns) ?? "",
      });
    // A record waiting for a pending IP's address has no record in Cloudflare yet (recordId "").
    else if (r.type === DNS_RECORD_TYPE && r.id && typeof o.zoneId === "string" && o.recordId !== "")
      out.records.push({
        resource: nameOf(r.urn),
        zone: str(o.zone) ?? "",
        zoneId: o.zoneId,
        recordId: str(o.recordId) ?? r.id,
        type: str(o.type) ?? "",
        name: str(o.name) ?? "",
        content: str(o.content) ?? "",
        ttl: num(o.ttl),
        proxied: typeof o.proxied === "boolean" ? o.proxied : undefined,
        priority: num(o.priority),
      });
  }
  return out;
}

/**
 * Every tenant's last-known world from the backend, read directly. A tenant
 * without a checkpoint, with pending operations (an interrupted run) or with a
 * checkpoint that does not parse is `unreadable`: the engine looks at it instead.
 */
export async function lastKnownWorld(store: StateStore, project: string, tenants: string[]): Promise<LastKnown[]> {
  const texts = await store.checkpoints(project, tenants);
  return tenants.map((tenant) => {
    try {
      const text = texts.get(tenant);
      if (text === undefined) return { tenant, servers: [], ips: [], records: [], unreadable: "no checkpoint (never deployed)" };
      const { resources, pending } = parseCheckpoint(text);
      const known = ownedResources(tenant, resources);
      if (pending.length) known.unreadable = `${pending.length} pending operation${pending.length > 1 ? "s" : ""} (an interrupted run)`;
      return known;
    } catch (e) {
      return { tenant, servers: [], ips: [], records: [], unreadable: `checkpoint unreadable: ${(e as Error).message}` };
    }
  });
}
