/**
 * The job that carries one request out, in the tenant's queue (so one at a time per tenant):
 *   requested  → judge the change on the branch's current config, commit it (the message names
 *                the request) and push → confirmed; or rejected, with the policy's words.
 *   confirmed  → `up` of the tenant's stack with the policy pack (the fleet's runner and change
 *                collector); the engine's events move the row: the first purchase step to
 *                purchasing, the first release step to releasing, each IP recorded as it arrives.
 *              → assigned / released from the stack's outputs; a change the engine's policy pack
 *                refuses is reverted in git and rejected; one that keeps failing ends failed.
 * Every step can be killed and run again: the commit is found by its request id instead of made
 * twice, `up` converges (the Hostwinds provider takes over an IP bought by a killed run instead of
 * buying another), and a stack lock left by a killed engine on this host is cleared.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Pool } from "pg";
import { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../providers/hostwinds";
import { parseTenant } from "../providers/model/tenant";
import { ChangeCollector, conciseError } from "../scripts/lib/stacks/changes";
import { FleetEngineOptions, openTenantStack } from "../scripts/lib/stacks/stacks";
import { devDir } from "../scripts/lib/engine/pulumi-env";
import { FleetProject } from "../scripts/lib/stacks/tenants";
import { ConfigRepo } from "./config-repo";
import { RequestRow, advance, getRequest } from "./lifecycle";
import { inTransaction } from "../scripts/lib/postgres/index";
import { KnownIp, RequestRejected, TERMINAL, changeTenant, doneStatus, judgeTenant } from "./requests";
import { syncTenantIps, syncTenantServers, tenantIpsFromOutputs, tenantServersFromOutputs } from "./tenant-ips";
import { defaultPriceBook } from "../providers/hostwinds/catalog";

export interface ApplyContext {
  pool: Pool;
  repo: ConfigRepo;
  slots: SlotPool;
  engine: FleetEngineOptions;
  policyPacks: string[];
  log: (line: string) => void;
}

/** How long a request waits for another run's stack lock before the try counts as failed. */
const LOCK_WAIT_MS = 20 * 60_000;

/** Numbered slots: each owns a Pulumi home and a clone of the config repository. */
export class SlotPool {
  private free: number[];
  private waiting: Array<(slot: number) => void> = [];
  constructor(size: number) {
    this.free = Array.from({ length: size }, (_, i) => i);
  }
  acquire(): Promise<number> {
    const s = this.free.shift();
    return s !== undefined ? Promise.resolve(s) : new Promise((r) => this.waiting.push(r));
  }
  release(slot: number): void {
    const w = this.waiting.shift();
    if (w) w(slot);
    else this.free.push(slot);
  }
}

const describe = (r: RequestRow): string => {
  const p = r.params as Record<string, unknown>;
  switch (r.kind) {
    case "acquire_ips":
      return `acquire ${p.count} sending IP${p.count === 1 ? "" : "s"} on ${p.server}`;
    case "add_server":
      return `add server ${p.name}`;
    case "add_standby":
      return `add ${p.count ?? 1} standby IP${(p.count ?? 1) === 1 ? "" : "s"} on ${p.server}`;
    default:
      return `${r.kind.replace("_ip", "")} IP ${p.ip}`;
  }
};

async function stackOutputs(stack: Stack): Promise<Record<string, unknown>> {
  return Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value]));
}

/** The tenant's IPs as its stack says now (empty before its first up). */
async function knownIps(p: FleetProject, repo: ConfigRepo, stack: Stack, tenant: string): Promise<KnownIp[]> {
  const t = parseTenant(tenant, repo.readTenant(p, tenant).tenant, defaultPriceBook());
  return tenantIpsFromOutputs(t, await stackOutputs(stack)).map((i) => ({ ip: i.ip, server: i.server, role: i.role, slot: i.slot }));
}

/** Clears a stack lock left by an engine on this host that no longer runs; true when it did. */
function clearDeadLock(stackName: string, engine: FleetEngineOptions): boolean {
  // The backend the fleet's workspaces use (scripts/lib/engine/pulumi-env.ts): the caller's, or the local dev one.
  const url = process.env.PULUMI_BACKEND_URL ?? `file://${path.join(devDir, "backends", engine.localBackend ?? "default")}`;
  if (!url.startsWith("file://")) return false;
  const locks = path.join(url.slice("file://".length), ".pulumi", "locks");
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (path.basename(d) === stackName && f.endsWith(".json")) files.push(f);
    }
  };
  walk(locks);
  if (!files.length) return false;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const infos = files.map((f) => JSON.parse(fs.readFileSync(f, "utf8")) as { pid?: number; hostname?: string });
  if (!infos.every((l) => l.hostname === os.hostname() && typeof l.pid === "number" && !alive(l.pid))) return false;
  for (const f of files) fs.rmSync(f, { force: true });
  return true;
}

/**
 * Runs `f` (a stack command) and, when another run holds the stack's lock, waits for it as long as
 * LOCK_WAIT_MS without using up the request's tries (the merge pipeline or a person's `pulumi up`
 * on the same tenant never applies at the same time as the service); a lock whose engine was
 * killed on this host is cleared at once.
 */
async function unlocked<T>(ctx: ApplyContext, row: RequestRow, f: () => Promise<T>): Promise<T> {
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (!/currently locked/i.test(String((e as Error).message))) throw e;
      if (clearDeadLock(row.tenant, ctx.engine)) {
        ctx.log(`request ${row.id} (${row.tenant}): cleared the stack lock of an engine that was killed; going on`);
        continue;
      }
      if (Date.now() > until) throw e;
      ctx.log(`request ${row.id} (${row.tenant}): the stack is being updated by another run; waiting`);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

/** Runs one request as far as it goes; throws to have the queue try again later. */
export async function applyRequest(
  ctx: ApplyContext,
  requestId: string,
  attempt: { attempts: number; maxAttempts: number },
): Promise<void> {
  const row = await getRequest(ctx.pool, requestId);
  if (!row || (TERMINAL as readonly string[]).includes(row.status)) return;
  const slot = await ctx.slots.acquire();
  try {
    await run(ctx, row, slot, attempt);
  } finally {
    ctx.slots.release(slot);
  }
}

async function run(ctx: ApplyContext, row: RequestRow, slot: number, attempt: { attempts: number; maxAttempts: number }): Promise<void> {
  const { pool, repo } = ctx;
  const id = row.id;
  const p = await repo.checkout(slot);
  if (!repo.hasTenant(p, row.tenant)) {
    await advance(pool, id, "rejected", {
      failure_reason: `tenant ${row.tenant} has no stack config (${p.stacksDir}/Pulumi.${row.tenant}.yaml) in the config repository`,
    });
    return;
  }
  const stack = await unlocked(ctx, row, () => openTenantStack(p, row.tenant, slot, ctx.engine, true));

  if (row.status === "requested") {
    let sha = await repo.commitWith(p, "Request", id);
    let after: unknown;
    if (!sha) {
      const ips = ["release_ip", "retire_ip", "pause_ip"].includes(row.kind) ? await knownIps(p, repo, stack, row.tenant) : [];
      try {
        sha = await repo.commitTenant(
          p,
          row.tenant,
          (raw) => {
            const before = judgeTenant(row.tenant, raw);
            after = judgeTenant(row.tenant, changeTenant(before, row.kind, row.params, ips));
            return after;
          },
          `service: ${describe(row)} for ${row.tenant}\n\nRequested by ${row.requester} through the provisioning service.\n\nRequest: ${id}`,
        );
      } catch (e) {
        if (!(e instanceof RequestRejected) && !(e instanceof Error && e.name === "ZodError")) throw e;
        await advance(pool, id, "rejected", { failure_reason: e instanceof RequestRejected ? e.message : conciseError(e) });
        ctx.log(`request ${id} (${row.tenant}): rejected: ${e.message}`);
        return;
      }
      ctx.log(`request ${id} (${row.tenant}): committed ${sha.slice(0, 10)} and pushed`);
    } else {
      after = repo.readTenant(p, row.tenant).tenant;
    }
    const t = parseTenant(row.tenant, after ?? repo.readTenant(p, row.tenant).tenant, defaultPriceBook());
    const serverName = (row.params.server ?? row.params.name) as string | undefined;
    const server = t.servers.find((s) => s.name === serverName);
    await advance(pool, id, "confirmed", {
      commit_sha: sha,
      domain: t.domains[0].name,
      ...(server
        ? { hostwinds: { server: server.name, location: server.location, plan: server.plan, billingCycle: server.billingCycle } }
        : {}),
    });
  }

  // Desired state is in git: apply the tenant's stack as the branch has it now.
  const collector = new ChangeCollector(row.tenant);
  let writes: Promise<unknown> = Promise.resolve();
  const later = (f: () => Promise<unknown>) => {
    writes = writes.then(f).catch((e: Error) => ctx.log(`request ${id}: recording an engine event failed: ${e.message}`));
  };
  const onEvent = (e: EngineEvent) => {
    collector.onEvent(e);
    const pre = e.resourcePreEvent?.metadata;
    if (pre && (pre.type === SECONDARY_IP_TYPE || pre.type === INSTANCE_TYPE)) {
      if (["create", "create-replacement", "replace"].includes(pre.op)) later(() => advance(pool, id, "purchasing"));
      if (pre.type === SECONDARY_IP_TYPE && ["delete", "delete-replaced"].includes(pre.op)) later(() => advance(pool, id, "releasing"));
    }
    const out = e.resOutputsEvent?.metadata;
    if (out?.type === SECONDARY_IP_TYPE) {
      const resource = out.urn.split("::").pop() ?? out.urn;
      const bought = ["create", "create-replacement"].includes(out.op) ? (out.new?.outputs?.ip as string | undefined) : undefined;
      const released = ["delete", "delete-replaced"].includes(out.op) ? (out.old?.outputs?.ip as string | undefined) : undefined;
      for (const [ip, action] of [
        [bought, "bought"],
        [released, "released"],
      ] as const)
        if (ip)
          later(() =>
            pool.query("insert into request_ips (request_id, ip, action, resource) values ($1, $2, $3, $4) on conflict do nothing", [
              id,
              ip,
              action,
              resource,
            ]),
          );
    }
  };
  const policyPacks = ctx.policyPacks;
  let failure: unknown;
  try {
    await unlocked(ctx, row, () => stack.up({ policyPacks, onEvent }));
  } catch (e) {
    failure = e;
  }
  await writes;
  if (failure) {
    collector.failed(failure);
    const c = collector.change;
    if (c.status === "blocked") {
      const reason = c.policy
        .filter((x) => x.level === "mandatory")
        .map((x) => x.message)
        .join("; ");
      const sha = (await getRequest(pool, id))?.commit_sha;
      const reverted = await repo.commitWith(p, "Reverts-request", id);
      if (sha && !reverted)
        await repo.revert(p, sha, `service: revert request ${id} for ${row.tenant} (the policy pack refused it)\n\nReverts-request: ${id}`);
      await advance(pool, id, "rejected", { failure_reason: reason });
      return;
    }
    if (attempt.attempts < attempt.maxAttempts) throw new Error(`tenant ${row.tenant}: up failed (will try again): ${c.error}`);
    await advance(pool, id, "failed", { failure_reason: `up of tenant ${row.tenant} failed ${attempt.attempts} times; last: ${c.error}` });
    return;
  }

  const outputs = await stackOutputs(stack);
  const t = parseTenant(row.tenant, repo.readTenant(p, row.tenant).tenant, defaultPriceBook());
  const ips = tenantIpsFromOutputs(t, outputs);
  const { rows: touched } = await pool.query<{ ip: string; action: string }>("select ip, action from request_ips where request_id = $1", [
    id,
  ]);
  const wanted = row.params.ip as string | undefined;
  // A release the engine reported without outputs: the IP the request named, gone from the stack.
  if (row.kind === "release_ip" && wanted && !ips.some((i) => i.ip === wanted) && !touched.some((x) => x.ip === wanted)) {
    await pool.query(
      "insert into request_ips (request_id, ip, action, resource) values ($1, $2, 'released', 'SecondaryIp') on conflict do nothing",
      [id, wanted],
    );
    touched.push({ ip: wanted, action: "released" });
  }
  const result = {
    bought: touched.filter((x) => x.action === "bought").map((x) => ips.find((i) => i.ip === x.ip) ?? { ip: x.ip }),
    released: touched.filter((x) => x.action === "released").map((x) => x.ip),
    ...(row.kind === "pause_ip"
      ? { nowSending: ips.filter((i) => i.server === ips.find((j) => j.ip === wanted)?.server && i.role === "sending").map((i) => i.ip) }
      : {}),
    monthlyCostUsd: (outputs.monthlyCostUsd as { totalUsd?: number } | undefined)?.totalUsd,
  };
  await inTransaction(pool, async (c) => {
    await syncTenantIps(c, row.tenant, ips);
    await syncTenantServers(c, row.tenant, tenantServersFromOutputs(t, outputs));
  });
  await advance(pool, id, doneStatus(row.kind), { result, commit_sha: undefined });
  ctx.log(`request ${id} (${row.tenant}): ${doneStatus(row.kind)}`);
}
