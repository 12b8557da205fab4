/**
 * `fleet recover --tenant T`: after a run was killed (CLI, machine or pipeline job gone), clears
 * what it left (the stack's update lock and its pending operations) by reconciling them with the
 * Hostwinds account, never blindly:
 *
 * 0. An empty checkpoint sidecar (`<stack>.json.attrs`, a kill mid-write) is removed.
 * 1. The lock: refused while the process that holds it is still running (same host), or when that
 *    cannot be known (another host, a backend whose locks are not readable here) without --force.
 * 2. Each pending operation, against the account:
 *    - the create of a server: found by its owner mark (providers/hostwinds/inputs.ts) or adopted
 *      id → it exists, and the next `up` takes it over by that mark (adoption; nothing is bought
 *      again); not found → nothing was bought, the entry is dropped;
 *    - the create of an IP: its server's order journal (providers/hostwinds/orders.ts) and the
 *      IPs on it no slot holds are shown; the next `up`'s slot settles those orders and claims an
 *      IP that arrived for them instead of buying again; no server → dropped;
 *    - an update or delete: the refresh below reads the resource's real state.
 * 3. Then, unless --dry-run, what Pulumi itself offers for this: `pulumi cancel` (on a DIY
 *    backend it deletes the lock files) and `pulumi refresh --clear-pending-creates` (every
 *    resource read from the account; pending creates dropped, as decided above); refused while
 *    the stack's writer lease (providers/lib/lease.ts) has a live holder.
 * 4. DNS records carrying this stack's own mark that its state does not hold (created by the dead
 *    run, never saved) are deleted (removeStrayRecords).
 */
import { Stack } from "@pulumi/pulumi/automation";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../../providers/hostwinds";
import { parseServerName, markOfInputs } from "../../../providers/hostwinds/inputs";
import { splitName } from "../../../providers/hostwinds/orders";
import { removeEmptyCheckpointSidecars } from "../../lib/stacks/stacks";
import { backendStacks, describeLock, lockState, shortName, stateStore } from "./backend";
import { hostwindsFromEnv, ipOf } from "./orphans";
import { holderAlive, leaseStoreFor } from "../../../providers/lib/lease";
import { DNS_RECORD_TYPE } from "../../../providers/cloudflare";
import { CloudflareClient, cloudflareSettings } from "../../../providers/cloudflare/client";

export interface RecoverOptions {
  dryRun?: boolean;
  /** Clear a lock whose holder cannot be checked from here (another host, another backend kind). */
  force?: boolean;
  log?: (line: string) => void;
}

export interface RecoverReport {
  stack: string;
  lock: string;
  /** One line per pending operation: what the account says and what happens to it. */
  pending: string[];
  cleared: boolean;
}

type Pending = {
  type: string;
  resource: { urn: string; type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
};
const num = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined);

export async function recoverStack(stack: Stack, o: RecoverOptions = {}): Promise<RecoverReport> {
  const log = o.log ?? (() => undefined);
  const ws = stack.workspace as import("@pulumi/pulumi/automation").LocalWorkspace;
  const project = (await ws.projectSettings()).name;
  const backendUrl = ws.envVars.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL;
  // A DIY backend read directly (file://, postgres://): its lock blobs say it all, and never `stack ls`
  // there (one unreadable stack, a killed write, would make it fail; at 10K stacks it takes minutes).
  // Elsewhere `stack ls` says it (Pulumi Cloud's updateInProgress).
  const store = stateStore(backendUrl);
  let lock;
  try {
    const summary = store
      ? { name: stack.name }
      : ((await backendStacks(ws).catch(() => [])).find((s) => shortName(s.name) === stack.name) ?? { name: stack.name });
    lock = await lockState(store, summary, project);
  } finally {
    await store?.close();
  }
  const lockLine = describeLock(lock);
  // The provider's writer lease (providers/lib/lease.ts) outlives `pulumi cancel`: while its holder
  // lives, an engine is still running on this stack and may be buying; never cancel under it.
  const leases = leaseStoreFor(backendUrl);
  const writer = await leases.peek(`${project}/${stack.name}`).finally(() => leases.close());
  if (writer && holderAlive(writer))
    throw new Error(
      `stack ${stack.name}: an engine is still writing it (process ${writer.pid} on ${writer.host}, last seen ${writer.heartbeatAt}, about to ${writer.doing}); ` +
        "let it finish or stop that process first. `pulumi cancel` now would let a second run buy again.",
    );
  if (lock.kind === "held" && lock.alive === true)
    throw new Error(`stack ${stack.name}: ${lockLine}: an update is running; let it finish (or stop it) before recovering`);
  if (!o.force && (lock.kind === "unknown" || (lock.kind === "held" && lock.alive === "unknown")))
    throw new Error(`stack ${stack.name}: ${lockLine}; make sure no update of it is running, then add --force`);

  // A kill in the middle of a checkpoint write can leave the file backend's `.attrs` sidecar empty,
  // and Pulumi then cannot load the stack ("EOF"); an empty sidecar holds nothing: it goes (opening
  // the stack already removes it when it stopped the select; scripts/lib/stacks/stacks.ts).
  if (!o.dryRun)
    for (const f of removeEmptyCheckpointSidecars(backendUrl ?? "", stack.name))
      log(`recover ${stack.name}: removed the empty checkpoint sidecar ${f} (left by a kill mid-write)`);

  const deployment = (await stack.exportStack()).deployment as {
    resources?: Array<{ type: string; id?: string; outputs?: Record<string, unknown> }>;
    pending_operations?: Pending[];
  };
  const pending = deployment?.pending_operations ?? [];
  // What the stack's slots hold, by their `ip` output (a settled pending order keeps its `order-…` id).
  const held = new Set(
    (deployment?.resources ?? [])
      .filter((r) => r.type === SECONDARY_IP_TYPE)
      .map(ipOf)
      .filter((ip): ip is string => ip !== undefined),
  );
  const lines = pending.length ? await pendingLines(stack.name, pending, held) : [];
  for (const l of lines) log(`recover ${stack.name}: ${l}`);
  if (o.dryRun) return { stack: stack.name, lock: lockLine, pending: lines, cleared: false };
  if (lock.kind !== "free") {
    log(`recover ${stack.name}: clearing the lock (${lockLine}) with pulumi cancel`);
    await stack.cancel();
  }
  log(`recover ${stack.name}: pulumi refresh --clear-pending-creates (every resource read from the account)`);
  await stack.refresh({ clearPendingCreates: true });
  await removeStrayDns(stack, log);
  return { stack: stack.name, lock: lockLine, pending: lines, cleared: true };
}

/**
 * Deletes records carrying one of these owner marks (this stack's, providers/model/owner.ts) that the
 * stack's state does not hold: made by a run killed between creating them and saving them. A mark
 * names backend, project, stack and tenant, so no other stack's record ever matches.
 */
export async function removeStrayRecords(
  cf: CloudflareClient,
  state: Array<{ zoneId: string; recordId: string; owner: string }>,
): Promise<string[]> {
  const held = new Set(state.map((r) => r.recordId).filter(Boolean));
  const out: string[] = [];
  for (const zoneId of new Set(state.map((r) => r.zoneId))) {
    const marks = new Set(state.filter((r) => r.zoneId === zoneId).map((r) => r.owner));
    for (const r of await cf.listAll(zoneId))
      if (typeof r.comment === "string" && marks.has(r.comment) && !held.has(r.id)) {
        await cf.delete(zoneId, r.id);
        out.push(`${r.type} ${r.name} (${r.id})`);
      }
  }
  return out;
}

/** One line per pending operation: what the account holds for it and what the next up does with it. */
async function pendingLines(stackName: string, pending: Pending[], held: Set<string>): Promise<string[]> {
  const lines: string[] = [];
  const { client } = hostwindsFromEnv();
  const servers = await client.listInstances();
  for (const op of pending) {
    const i = { ...op.resource.inputs, ...op.resource.outputs };
    const name = op.resource.urn.split("::").pop();
    const mark = op.resource.type === INSTANCE_TYPE ? markOfInputs(i, stackName) : undefined;
    if (op.type !== "creating") {
      lines.push(`${name}: interrupted while ${op.type}; refresh reads its real state`);
    } else if (mark) {
      const adopt = num(i.adoptServiceId);
      const found = servers.find((s) => (adopt ? s.serviceid === adopt : splitName(s.srvrname).mark === mark));
      lines.push(
        found
          ? `${name}: server ${mark} exists in the account (id ${found.serviceid}, ${found.status}); the next up takes it over by its owner mark, buying nothing`
          : `${name}: no server ${mark} in the account: nothing was bought; the pending create is dropped`,
      );
    } else if (op.resource.type === SECONDARY_IP_TYPE) {
      const serviceId = num(i.serviceId);
      const server = servers.find((s) => s.serviceid === serviceId);
      if (!server) lines.push(`${name}: its server ${serviceId ?? "?"} is not in the account: nothing to claim; dropped`);
      else {
        const { mark, orders } = splitName(server.srvrname);
        const free = (await client.listIps(server.serviceid)).map((x) => x.ip).filter((ip) => ip !== server.main_ip && !held.has(ip));
        lines.push(
          `${name}: server ${parseServerName(mark) ? mark : server.srvrname} has ${orders.length} open IP order${orders.length === 1 ? "" : "s"} and ` +
            `${free.length ? `unclaimed IPs ${free.join(", ")}` : "no unclaimed IP"}; the next up's slot settles them, buying again only what no order covers`,
        );
      }
    } else {
      lines.push(
        `${name}: interrupted while creating (${op.resource.type}); the next up creates it again (it finds and adopts what exists)`,
      );
    }
  }
  return lines;
}

/** After the refresh: DNS records the killed run made and never saved (they carry this stack's mark) are removed. */
async function removeStrayDns(stack: Stack, log: (line: string) => void): Promise<void> {
  const after = (await stack.exportStack()).deployment as { resources?: Array<{ type: string; outputs?: Record<string, unknown> }> };
  const records = (after?.resources ?? [])
    .filter((r) => r.type === DNS_RECORD_TYPE && typeof r.outputs?.owner === "string" && typeof r.outputs?.zoneId === "string")
    .map((r) => ({ zoneId: String(r.outputs!.zoneId), recordId: String(r.outputs!.recordId ?? ""), owner: String(r.outputs!.owner) }));
  const settings = cloudflareSettings(() => undefined);
  if (records.length && settings.apiToken) {
    const removed = await removeStrayRecords(new CloudflareClient(settings), records);
    for (const r of removed)
      log(`recover ${stack.name}: removed ${r}, made by the killed run and in no state (it carried this stack's mark)`);
  } else if (records.length)
    log(`recover ${stack.name}: no Cloudflare token in the environment; records a killed run made and never saved are left`);
}
