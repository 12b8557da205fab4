/**
 * Hostwinds servers and IPs that no tenant stack owns: money spent on nothing.
 * Owned means in some stack's state (a server's service id, a secondary IP's
 * address). Only servers named like ours (`pm-<tenant>-<name>`) are candidates:
 * anything else in the account is not this project's to release. A dry run
 * by default; releasing needs both --release and --yes.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { HostwindsClient } from "../../../providers/hostwinds/client";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../../providers/hostwinds";
import { defaultPriceBook, monthlyPriceUsd } from "../../../providers/model/pricing";
import { readSettings } from "../../../providers/hostwinds/settings";
import { BillingCycle } from "../../../providers/model/pricing";

export interface Orphan {
  kind: "server" | "ip";
  serviceId: number;
  server: string;
  ip?: string;
  monthlyUsd: number;
  released?: boolean;
}

export interface Owned {
  serviceIds: Set<number>;
  ips: Set<string>;
}

/** What the stacks' states own. */
export async function ownedBy(stacks: Stack[]): Promise<Owned> {
  const owned: Owned = { serviceIds: new Set(), ips: new Set() };
  for (const s of stacks) {
    const state = await s.exportStack();
    for (const r of (state.deployment?.resources ?? []) as Array<{ type: string; id?: string; outputs?: Record<string, unknown> }>) {
      if (r.type === INSTANCE_TYPE && typeof r.outputs?.serviceId === "number") owned.serviceIds.add(r.outputs.serviceId);
      if (r.type === SECONDARY_IP_TYPE && r.id) owned.ips.add(r.id);
    }
  }
  return owned;
}

export function hostwindsFromEnv(): { client: HostwindsClient; ipMonthlyPriceUsd: number } {
  const s = readSettings(() => undefined);
  return {
    client: new HostwindsClient({
      apiKey: s.apiKey,
      apiUrl: s.apiUrl,
      requestsPerSecond: s.requestsPerSecond,
      requestTimeoutMs: s.requestTimeoutMs,
    }),
    ipMonthlyPriceUsd: s.ipMonthlyPriceUsd,
  };
}

export async function findOrphans(client: HostwindsClient, owned: Owned, ipMonthlyPriceUsd: number): Promise<Orphan[]> {
  const book = defaultPriceBook();
  const out: Orphan[] = [];
  for (const server of await client.listInstances()) {
    if (!server.srvrname.startsWith("pm-")) continue;
    const ips = await client.listIps(server.serviceid);
    const secondary = ips.filter((i) => i.ip !== server.main_ip);
    if (!owned.serviceIds.has(server.serviceid)) {
      const plan = book.plans.find((p) => p.id === server.product_id);
      const serverUsd = (plan && monthlyPriceUsd(plan, (server.billingcycle ?? "monthly") as BillingCycle)) ?? 0;
      out.push({
        kind: "server",
        serviceId: server.serviceid,
        server: server.srvrname,
        monthlyUsd: Math.round((serverUsd + secondary.length * ipMonthlyPriceUsd) * 100) / 100,
      });
      continue;
    }
    for (const ip of secondary)
      if (!owned.ips.has(ip.ip))
        out.push({ kind: "ip", serviceId: server.serviceid, server: server.srvrname, ip: ip.ip, monthlyUsd: ipMonthlyPriceUsd });
  }
  return out;
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
