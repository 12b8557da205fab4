/**
 * The job that carries one request out, in the tenant's queue (so one at a time per tenant):
 *   requested  → judge the change on the branch's current config, commit it (the message names
 *                the request) and push → confirmed; or rejected, with the policy's words.
 *   confirmed  → `up` of the tenant's stack with the policy pack (the fleet's runner and change
 *                collector); the engine's events move the row: the first purchase step to
 *                purchasing, the first release step to releasing, each IP recorded as it arrives.
 *              → assigned / released from the stack's outputs; a change the engine's policy pack
 *                refuses is reverted in git and rejected; one that keeps failing ends failed.
 * Every step can be killed and run again: the sha of a commit is recorded on the request's row
 * before it is pushed, so the next try finds it by the request's id (never by searching commit
 * messages, which hold text a caller sent) instead of making it twice; `up` converges (the Hostwinds provider takes over an IP bought by a killed run instead of
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
import { FleetEngineOptions, openTenantStack, withoutUpResult } from "../scripts/lib/stacks/stacks";
import { changeInWorker } from "../scripts/lib/stacks/engine-workers";
import { devDir } from "../scripts/lib/engine/pulumi-env";
import { FleetProject } from "../scripts/lib/stacks/tenants";
import { ConfigRepo } from "./config-repo";
import { RequestRow, StatusFields, advance, getRequest } from "./lifecycle";
import { inTransaction } from "../scripts/lib/postgres/index";
import { untilDatabase } from "../scripts/lib/postgres/outage";
import { oneLine } from "./problems";
import { recordRequestIp, requestIps, setPendingSha, setRevertSha } from "./store/requests";
import { Status } from "./requests";
import { KnownIp, RequestRejected, SubmittableKind, TERMINAL, changeTenant, doneStatus, judgeTenant } from "./requests";
import { archiveStackState, finalBackups, serversToBackUp } from "./offboard";
import { giveBackupTarget } from "./tenant-backup";
import { openRequestsOf, setTenantStatus } from "./store/tenants";
import { tenantIpsFromOutputs, tenantServersFromOutputs } from "./tenant-ips";
import { syncTenantIps, syncTenantServers } from "./store/ips";
import { defaultPriceBook } from "../providers/hostwinds/catalog";
import { Tenant } from "../providers/model/tenant";
import { VerificationOptions, expectedDomains, verifyTenantDomains, zonesOfTenant } from "./domains";
import { hasFailingDomain, syncTenantDomains } from "./store/domains";
import { saveCredential, syncTenantMailboxes } from "./store/mailboxes";
import { mailboxSettings, seal } from "./credentials";
import { CREDENTIAL_KINDS } from "./requests";

export interface ApplyContext {
  pool: Pool;
  repo: ConfigRepo;
  slots: SlotPool;
  engine: FleetEngineOptions;
  policyPacks: string[];
  log: (line: string) => void;
  /** How long a step waits for the database to come back before giving up (default 1 hour). */
  outageMaxMs?: number;
  /** Where offboarding writes each stack's final state (default .pulumi-dev/service/offboarded). */
  archiveDir?: string;
  /** Where domains are verified after each apply (./domains.ts). */
  verification?: VerificationOptions;
  /** Seals a new mailbox password until its request is read once (./credentials.ts). */
  credentialKey?: Buffer;
  /** The restic repository new tenants back their servers up to (PENGUINMAILS_BACKUP_REPOSITORY; ./tenant-backup.ts). */
  backupRepository?: string;
  /**
   * Each slot's `up` runs in the slot's long-lived engine worker with the program inline
   * (scripts/lib/stacks/engine-workers.ts, the fleet's), not as a CLI program started per request.
   */
  workers?: boolean;
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
  /** The slot used last is the next one given: its engine worker and caches are warm. */
  release(slot: number): void {
    const w = this.waiting.shift();
    if (w) w(slot);
    else this.free.unshift(slot);
  }
}

const describe = (r: RequestRow): string => {
  const p = r.params as Record<string, unknown>;
  switch (r.kind) {
    case "acquire_ips":
      return `acquire ${p.count} sending IP${p.count === 1 ? "" : "s"} on ${p.server}`;
    case "add_server":
      return `add server ${p.name}`;
    case "change_plan":
      return `move server ${p.server} to plan ${p.plan}`;
    case "add_standby":
      return `add ${p.count ?? 1} standby IP${(p.count ?? 1) === 1 ? "" : "s"} on ${p.server}`;
    case "add_domain":
      return `add the sending domain ${p.name}`;
    case "remove_domain":
      return `remove the sending domain ${p.domain}`;
    case "add_mailbox":
      return `add the mailbox ${p.localPart}@${p.domain}`;
    case "change_mailbox":
      return `change the mailbox ${p.address}`;
    case "remove_mailbox":
      return `remove the mailbox ${p.address}`;
    case "rotate_mailbox":
      return `give the mailbox ${p.address} a new password`;
    case "create_tenant":
      return `onboard the tenant`;
    case "delete_tenant":
      return `offboard the tenant`;
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
  const row = await db(ctx, "reading the request", () => getRequest(ctx.pool, requestId));
  if (!row) return;
  const revertCancelled = row.status === "cancelled" && row.commit_sha && !row.revert_sha;
  if ((TERMINAL as readonly string[]).includes(row.status) && !revertCancelled) return;
  const slot = await ctx.slots.acquire();
  try {
    await run(ctx, row, slot, attempt);
  } finally {
    ctx.slots.release(slot);
  }
}

/** A database step that waits out an outage (the engine's work is never thrown away for it). */
const db = <T>(ctx: ApplyContext, what: string, f: () => Promise<T>) =>
  untilDatabase(f, { maxMs: ctx.outageMaxMs, log: (l) => ctx.log(`${what}: ${l}`) });

const move = (ctx: ApplyContext, id: string, status: Status, fields: StatusFields = {}) =>
  db(ctx, `request ${id}: recording ${status}`, () => advance(ctx.pool, id, status, fields));

/** The commit message: the request's own words, and the caller's name on one line of its own. */
export function commitMessage(row: Pick<RequestRow, "id" | "tenant" | "kind" | "params" | "requester">): string {
  return `service: ${oneLine(describe(row as RequestRow))} for ${row.tenant}\n\nRequested by ${oneLine(row.requester)} through the provisioning service.\n\nRequest: ${row.id}`;
}

/** Where a request's time went, step by step (ms since the previous mark), logged once it ends: the service's fixed cost per request. */
class Steps {
  private last = Date.now();
  private readonly start = this.last;
  private readonly marks: string[] = [];
  mark(what: string): void {
    const now = Date.now();
    this.marks.push(`${what} ${((now - this.last) / 1000).toFixed(2)} s`);
    this.last = now;
  }
  line(): string {
    return `${((Date.now() - this.start) / 1000).toFixed(2)} s: ${this.marks.join(", ")}`;
  }
}

async function run(ctx: ApplyContext, row: RequestRow, slot: number, attempt: { attempts: number; maxAttempts: number }): Promise<void> {
  const steps = new Steps();
  try {
    await runSteps(ctx, row, slot, attempt, steps);
  } finally {
    ctx.log(`request ${row.id} (${row.tenant}): took ${steps.line()}`);
  }
}

async function runSteps(
  ctx: ApplyContext,
  row: RequestRow,
  slot: number,
  attempt: { attempts: number; maxAttempts: number },
  steps: Steps,
): Promise<void> {
  const p = await ctx.repo.checkout(slot);
  steps.mark("git checkout");
  if (row.status === "cancelled") return revertStep(ctx, p, row, "it was cancelled");
  if (row.kind === "delete_tenant") return offboardStep(ctx, p, slot, row, attempt);
  if (row.kind !== "create_tenant" && !ctx.repo.hasTenant(p, row.tenant)) {
    await move(ctx, row.id, "rejected", {
      failure_reason: `tenant ${row.tenant} has no stack config (stacks/Pulumi.${row.tenant}.yaml) in the config repository`,
    });
    return;
  }
  // A tenant being onboarded (no stack config on the branch yet) gets the operator's backup target.
  const onboarding = row.kind === "create_tenant" && row.status === "requested" && !ctx.repo.hasTenant(p, row.tenant);
  // Opened when something here reads it (`stack select`, a CLI run): an up in the slot's engine
  // worker opens the stack itself, and its outputs come with its events.
  let opened: Promise<Stack> | undefined;
  const stack: StackOf = () => (opened ??= unlocked(ctx, row, () => openTenantStack(p, row.tenant, slot, ctx.engine, true)));
  if (!ctx.workers) await stack();
  steps.mark("open stack");
  if (onboarding && (await giveBackupTarget(await stack(), ctx.backupRepository)))
    ctx.log(`request ${row.id} (${row.tenant}): its servers back up to the operator's backup target`);
  if (row.status === "requested" && !(await commitStep(ctx, p, stack, row))) return;
  steps.mark("commit and push");
  const up = await upStep(ctx, p, slot, stack, row, steps);
  if (up.failure) return failedStep(ctx, p, row, up.failure, attempt);
  await recordStep(ctx, p, stack, row, steps, up.outputs);
}

/** requested → confirmed: the change committed and pushed (or found pushed by an earlier try); false when rejected. */
/** The request's stack, opened on first use. */
type StackOf = () => Promise<Stack>;

async function commitStep(ctx: ApplyContext, p: FleetProject, stack: StackOf, row: RequestRow): Promise<boolean> {
  const { repo } = ctx;
  const id = row.id;
  const fresh = await db(ctx, `request ${id}`, () => getRequest(ctx.pool, id));
  let sha = fresh?.pending_commit_sha && (await repo.onBranch(p, fresh.pending_commit_sha)) ? fresh.pending_commit_sha : undefined;
  let after: unknown;
  if (!sha) {
    const ips = ["release_ip", "retire_ip", "pause_ip", "set_warmup", "recover_ip"].includes(row.kind)
      ? await knownIps(p, repo, await stack(), row.tenant)
      : [];
    try {
      sha = await repo.commitTenant(
        p,
        row.tenant,
        (raw) => {
          if (row.kind === "create_tenant") {
            if (raw !== undefined)
              throw new RequestRejected(
                `tenant ${row.tenant} has a stack config already (stacks/Pulumi.${row.tenant}.yaml); change it with requests, or offboard it first`,
              );
            after = judgeTenant(row.tenant, row.params);
            return after;
          }
          const before = judgeTenant(row.tenant, raw);
          after = judgeTenant(row.tenant, changeTenant(before, row.kind as SubmittableKind, row.params, ips));
          return after;
        },
        commitMessage(row),
        (pending) => db(ctx, `request ${id}: recording its commit`, () => setPendingSha(ctx.pool, id, "commit", pending)),
      );
    } catch (e) {
      if (!(e instanceof RequestRejected) && !(e instanceof Error && e.name === "ZodError")) throw e;
      await move(ctx, id, "rejected", { failure_reason: e instanceof RequestRejected ? e.message : conciseError(e) });
      ctx.log(`request ${id} (${row.tenant}): rejected: ${e.message}`);
      return false;
    }
    ctx.log(`request ${id} (${row.tenant}): committed ${sha.slice(0, 10)} and pushed`);
  }
  const t = parseTenant(row.tenant, after ?? repo.readTenant(p, row.tenant).tenant, defaultPriceBook());
  const serverName = (row.params.server ?? row.params.name) as string | undefined;
  const server = t.servers.find((s) => s.name === serverName);
  await move(ctx, id, "confirmed", {
    commit_sha: sha,
    domain: t.domains[0].name,
    ...(server
      ? { hostwinds: { server: server.name, location: server.location, plan: server.plan, billingCycle: server.billingCycle } }
      : {}),
  });
  return true;
}

/** The stack's type: its outputs come with the step events of its own resource. */
const STACK_TYPE = "pulumi:pulumi:Stack";

/** A run in an engine worker that ended failed or blocked: its change (the worker's collector) says why. */
class WorkerRunFailed extends Error {
  constructor(readonly change: ChangeCollector["change"]) {
    super(change.error ?? `the up ended ${change.status}`);
  }
}

/**
 * `up` of the tenant's stack as the branch has it now; the engine's events move the row and
 * record each IP (in order, each waiting out a database outage). Returns the failure, if any, and
 * the stack's outputs as the up's last step reported them (masked secrets and all: recordStep
 * decides whether they do). With ctx.workers the up runs in the slot's engine worker, and the
 * events the rows need come back over its IPC.
 */
async function upStep(
  ctx: ApplyContext,
  p: FleetProject,
  slot: number,
  stack: StackOf,
  row: RequestRow,
  steps: Steps,
): Promise<{ failure?: ChangeCollector["change"]; outputs?: Record<string, unknown> }> {
  const id = row.id;
  const collector = new ChangeCollector(row.tenant);
  let writes: Promise<unknown> = Promise.resolve();
  const later = (what: string, f: () => Promise<unknown>) => {
    writes = writes
      .then(() => db(ctx, `request ${id}: ${what}`, f))
      .catch((e: Error) => ctx.log(`request ${id}: recording an engine event failed: ${e.message}`));
  };
  let outputs: Record<string, unknown> | undefined;
  let first = true;
  const onEvent = (e: EngineEvent) => {
    const pre = e.resourcePreEvent?.metadata;
    if (pre && (pre.type === SECONDARY_IP_TYPE || pre.type === INSTANCE_TYPE)) {
      if (first) steps.mark("up: to its first server or IP step");
      first = false;
      if (["create", "create-replacement", "replace"].includes(pre.op)) later("purchasing", () => advance(ctx.pool, id, "purchasing"));
      if (pre.type === SECONDARY_IP_TYPE && ["delete", "delete-replaced"].includes(pre.op))
        later("releasing", () => advance(ctx.pool, id, "releasing"));
    }
    const out = e.resOutputsEvent?.metadata;
    if (out?.type === STACK_TYPE && out.new?.outputs) outputs = out.new.outputs as Record<string, unknown>;
    if (out?.type !== SECONDARY_IP_TYPE) return;
    const resource = out.urn.split("::").pop() ?? out.urn;
    const bought = ["create", "create-replacement"].includes(out.op) ? (out.new?.outputs?.ip as string | undefined) : undefined;
    const released = ["delete", "delete-replaced"].includes(out.op) ? (out.old?.outputs?.ip as string | undefined) : undefined;
    if (bought) later(`IP ${bought} bought`, () => recordRequestIp(ctx.pool, id, bought, "bought", resource));
    if (released) later(`IP ${released} released`, () => recordRequestIp(ctx.pool, id, released, "released", resource));
  };
  let failure: ChangeCollector["change"] | undefined;
  try {
    // A domain failing verification may have a record changed by hand: refresh first, so the up puts it back.
    const refresh = await db(ctx, `request ${id}`, () => hasFailingDomain(ctx.pool, row.tenant));
    steps.mark("up: database read");
    // recordStep reads the outputs it records; the up's own result would cost three more CLI runs.
    const up = ctx.workers
      ? async () => {
          const o = {
            ...ctx.engine,
            project: p,
            policyPacks: ctx.policyPacks,
            refresh,
            log: (l: string) => ctx.log(`request ${id}: ${l}`),
          };
          const types = [SECONDARY_IP_TYPE, INSTANCE_TYPE, STACK_TYPE];
          const change = await changeInWorker(o, row.tenant, slot, "up", { types, onEvent });
          // Thrown so that `unlocked` sees a lock in the engine's words, as it does without a worker.
          if (change.status !== "ok") throw new WorkerRunFailed(change);
        }
      : async () =>
          withoutUpResult(await stack(), { policyPacks: ctx.policyPacks, onEvent: (e) => (collector.onEvent(e), onEvent(e)), refresh });
    await unlocked(ctx, row, up);
  } catch (e) {
    if (e instanceof WorkerRunFailed) failure = e.change;
    else {
      collector.failed(e);
      failure = collector.change;
    }
  }
  steps.mark("up: the rest of the up");
  await writes;
  return { failure, outputs };
}

/** The engine failed: a change the policy pack refused is reverted and rejected; anything else is tried again, then failed. */
async function failedStep(
  ctx: ApplyContext,
  p: FleetProject,
  row: RequestRow,
  c: ChangeCollector["change"],
  attempt: { attempts: number; maxAttempts: number },
): Promise<void> {
  if (c.status === "blocked") {
    const reason = c.policy
      .filter((x) => x.level === "mandatory")
      .map((x) => x.message)
      .join("; ");
    await revertStep(ctx, p, row, "the policy pack refused it");
    await move(ctx, row.id, "rejected", { failure_reason: reason });
    return;
  }
  if (attempt.attempts < attempt.maxAttempts) throw new Error(`tenant ${row.tenant}: up failed (will try again): ${c.error}`);
  await move(ctx, row.id, "failed", { failure_reason: `up of tenant ${row.tenant} failed ${attempt.attempts} times; last: ${c.error}` });
}

/** Reverts the request's pushed commit once (its sha recorded before the push, like the commit's). */
async function revertStep(ctx: ApplyContext, p: FleetProject, row: RequestRow, why: string): Promise<void> {
  const id = row.id;
  const fresh = await db(ctx, `request ${id}`, () => getRequest(ctx.pool, id));
  const sha = fresh?.commit_sha;
  if (!sha || fresh.revert_sha) return;
  let revert = fresh.pending_revert_sha && (await ctx.repo.onBranch(p, fresh.pending_revert_sha)) ? fresh.pending_revert_sha : undefined;
  revert ??= await ctx.repo.revert(
    p,
    sha,
    `service: revert request ${id} for ${row.tenant} (${why})\n\nReverts-request: ${id}`,
    (pending) => db(ctx, `request ${id}: recording its revert`, () => setPendingSha(ctx.pool, id, "revert", pending)),
  );
  await db(ctx, `request ${id}: recording its revert`, () => setRevertSha(ctx.pool, id, revert));
  ctx.log(`request ${id} (${row.tenant}): reverted ${sha.slice(0, 10)} (${why})`);
}

/**
 * The tenant's domains as the stack now publishes them, each verified again (an apply may touch
 * any of them: an IP in SPF, a record put back); a status that moved is a webhook. Verification
 * failing to run leaves the statuses as they were: the request itself is done.
 */
async function recordDomains(ctx: ApplyContext, t: Tenant, outputs: Record<string, unknown>) {
  const o = ctx.verification ?? {};
  const { zones } = await zonesOfTenant(t, o).catch(() => ({ zones: [] as string[] }));
  await db(ctx, `tenant ${t.id}: recording its domains`, () =>
    inTransaction(ctx.pool, (c) => syncTenantDomains(c, t.id, expectedDomains(t, outputs, zones))),
  );
  try {
    const save = (write: () => Promise<void>) => db(ctx, `tenant ${t.id}: recording a domain's verification`, write);
    return (await verifyTenantDomains(ctx.pool, o, t.id, undefined, save)).map((v) => ({ domain: v.domain, status: v.status }));
  } catch (e) {
    ctx.log(`tenant ${t.id}: verifying its domains failed (statuses kept): ${(e as Error).message}`);
    return [];
  }
}

/** The mailboxes the stack published (no passwords: those are only in the secret `mailboxPasswords`). */
function mailboxesFromOutputs(outputs: Record<string, unknown>) {
  const list = (outputs.mailboxes ?? []) as Array<{ address: string; quotaMb: number; enabled: boolean; host: string }>;
  return list.map((m) => ({
    address: m.address,
    domain: m.address.slice(m.address.lastIndexOf("@") + 1),
    quota_mb: m.quotaMb,
    enabled: m.enabled,
    host: m.host,
  }));
}

/**
 * For a request that made a password (add_mailbox, rotate_mailbox): the password from the stack's
 * secret output, sealed for mailbox_credentials, and what the result shows instead of it; or why
 * there is none (a stack that installs no MailU makes no passwords).
 */
function mailboxCredential(ctx: ApplyContext, row: RequestRow, outputs: Record<string, unknown>) {
  if (!CREDENTIAL_KINDS.includes(row.kind as SubmittableKind)) return undefined;
  const p = row.params as { address?: string; localPart?: string; domain?: string };
  const address = p.address ?? `${p.localPart}@${p.domain}`;
  const password = ((outputs.mailboxPasswords ?? {}) as Record<string, string>)[address];
  const box = ((outputs.mailboxes ?? []) as Array<{ address: string; host: string }>).find((m) => m.address === address);
  if (!password || !box || !ctx.credentialKey)
    return {
      missing: `tenant ${row.tenant}: the stack made no password for ${address} (its servers install no MailU: installMailu is false); set installMailu and rotate the mailbox`,
    };
  return {
    sealed: seal(ctx.credentialKey, row.id, password),
    public: { address, ...mailboxSettings(address, box.host), password: `shown once, in GET /requests/${row.id}` },
  };
}

/** The Pulumi engine's mark of a secret in state, and its display of one in an event (a masked value). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const MASKED = "[secret]";

/**
 * The outputs the up's own last step reported, when they are the stack's outputs as recordStep
 * needs them: the engine's events show a secret as "[secret]", so a request that reads a secret
 * output (a mailbox password) or outputs with any other secret in them are read from the stack
 * instead (`stack output`, two CLI runs).
 */
function usableOutputs(row: RequestRow, reported: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!reported || CREDENTIAL_KINDS.includes(row.kind as SubmittableKind)) return undefined;
  const rest = Object.entries(reported).filter(([k]) => k !== "mailboxPasswords");
  const text = JSON.stringify(rest);
  return text.includes(MASKED) || text.includes(SECRET_SIG) ? undefined : reported;
}

/** assigned / released: the stack's outputs, the IPs the engine reported, the tenant's IPs and servers. */
async function recordStep(
  ctx: ApplyContext,
  p: FleetProject,
  stack: StackOf,
  row: RequestRow,
  steps: Steps,
  reported?: Record<string, unknown>,
): Promise<void> {
  const id = row.id;
  const outputs = usableOutputs(row, reported) ?? (await stackOutputs(await stack()));
  steps.mark(`record: stack outputs${usableOutputs(row, reported) ? " (the up's)" : ""}`);
  const t = parseTenant(row.tenant, ctx.repo.readTenant(p, row.tenant).tenant, defaultPriceBook());
  const ips = tenantIpsFromOutputs(t, outputs);
  const touched = (await db(ctx, `request ${id}`, () => requestIps(ctx.pool, id))).map((x) => ({ ip: x.ip, action: x.action }));
  const wanted = row.params.ip as string | undefined;
  // A release the engine reported without outputs: the IP the request named, gone from the stack.
  if (row.kind === "release_ip" && wanted && !ips.some((i) => i.ip === wanted) && !touched.some((x) => x.ip === wanted)) {
    await db(ctx, `request ${id}`, () => recordRequestIp(ctx.pool, id, wanted, "released", "SecondaryIp"));
    touched.push({ ip: wanted, action: "released" });
  }
  const result = {
    bought: touched.filter((x) => x.action === "bought").map((x) => ips.find((i) => i.ip === x.ip) ?? { ip: x.ip }),
    released: touched.filter((x) => x.action === "released").map((x) => x.ip),
    ...(row.kind === "pause_ip" || row.kind === "recover_ip"
      ? { nowSending: ips.filter((i) => i.server === ips.find((j) => j.ip === wanted)?.server && i.role === "sending").map((i) => i.ip) }
      : {}),
    monthlyCostUsd: (outputs.monthlyCostUsd as { totalUsd?: number } | undefined)?.totalUsd,
    domains: await recordDomains(ctx, t, outputs),
  };
  steps.mark("record: domains verified");
  const credential = mailboxCredential(ctx, row, outputs);
  if (credential?.public) Object.assign(result, { mailbox: credential.public });
  await db(ctx, `request ${id}: recording the tenant's IPs`, () =>
    inTransaction(ctx.pool, async (c) => {
      await syncTenantIps(c, row.tenant, ips);
      await syncTenantServers(c, row.tenant, tenantServersFromOutputs(t, outputs), t.monthlyBudgetUsd);
      await syncTenantMailboxes(c, row.tenant, mailboxesFromOutputs(outputs));
      if (credential?.public) await saveCredential(c, id, row.tenant, credential.public.address, credential.sealed);
    }),
  );
  if (row.kind === "create_tenant") await db(ctx, `tenant ${row.tenant}`, () => setTenantStatus(ctx.pool, row.tenant, "active"));
  steps.mark("record: database");
  if (credential?.missing) {
    await move(ctx, id, "failed", { failure_reason: credential.missing, result });
    return;
  }
  await move(ctx, id, doneStatus(row.kind), { result });
  ctx.log(`request ${id} (${row.tenant}): ${doneStatus(row.kind)}`);
}

/**
 * Offboarding (delete_tenant): refused while another request of the tenant is open (unless
 * `force`); then a final backup of every server and of the stack's state, `destroy` (every server
 * and IP released, every DNS record deleted), the stack removed from the backend (the same id
 * onboarded again starts clean), and the config file removed by a commit. The result names the
 * backups and everything released. A backup that fails stops it before anything is destroyed.
 */
async function offboardStep(
  ctx: ApplyContext,
  p: FleetProject,
  slot: number,
  row: RequestRow,
  attempt: { attempts: number; maxAttempts: number },
): Promise<void> {
  const id = row.id;
  const open = await db(ctx, `request ${id}`, () => openRequestsOf(ctx.pool, row.tenant, id));
  if (open.length && !(row.params as { force?: boolean }).force) {
    await move(ctx, id, "rejected", {
      failure_reason: `tenant ${row.tenant} has open requests (${open.map((r) => `${r.kind} ${r.id}`).join(", ")}); wait for them, cancel them, or offboard with force`,
    });
    return;
  }
  if (!ctx.repo.hasTenant(p, row.tenant)) {
    await move(ctx, id, "rejected", {
      failure_reason: `tenant ${row.tenant} has no stack config (stacks/Pulumi.${row.tenant}.yaml): nothing to offboard`,
    });
    return;
  }
  const stack = await unlocked(ctx, row, () => openTenantStack(p, row.tenant, slot, ctx.engine, true));
  await move(ctx, id, "confirmed");
  await db(ctx, `tenant ${row.tenant}`, () => setTenantStatus(ctx.pool, row.tenant, "offboarding"));
  const outputs = await stackOutputs(stack);
  const t = parseTenant(row.tenant, ctx.repo.readTenant(p, row.tenant).tenant, defaultPriceBook());
  const servers = tenantServersFromOutputs(t, outputs);
  const ips = tenantIpsFromOutputs(t, outputs);
  const backups = await finalBackups(stack, row.tenant, serversToBackUp(outputs));
  const failedBackup = backups.find((b) => b.status === "failed");
  if (failedBackup) {
    if (attempt.attempts < attempt.maxAttempts) throw new Error(`tenant ${row.tenant}: ${failedBackup.server}: ${failedBackup.detail}`);
    await move(ctx, id, "failed", {
      failure_reason: `the final backup of ${failedBackup.server} failed; nothing was destroyed: ${failedBackup.detail}`,
    });
    return;
  }
  const stateBackup = await archiveStackState(stack, ctx.archiveDir ?? path.join(devDir, "service", "offboarded"), row.tenant);
  await move(ctx, id, "releasing");
  try {
    await unlocked(ctx, row, () => stack.destroy());
  } catch (e) {
    if (attempt.attempts < attempt.maxAttempts) throw e;
    await move(ctx, id, "failed", { failure_reason: `destroy of tenant ${row.tenant} failed: ${conciseError(e)}` });
    return;
  }
  await stack.workspace.removeStack(row.tenant);
  const sha = await ctx.repo.removeTenant(p, row.tenant, commitMessage(row), (pending) =>
    db(ctx, `request ${id}: recording its commit`, () => setPendingSha(ctx.pool, id, "commit", pending)),
  );
  const result = {
    finalBackups: backups,
    stateBackup,
    releasedServers: servers.map((s) => ({ server: s.server, hostname: s.hostname, mainIp: s.mainIp })),
    releasedIps: ips.map((i) => i.ip),
    commit: sha,
  };
  await db(ctx, `tenant ${row.tenant}: recording the offboarding`, () =>
    inTransaction(ctx.pool, async (c) => {
      await syncTenantIps(c, row.tenant, []);
      await syncTenantServers(c, row.tenant, []);
      await syncTenantDomains(c, row.tenant, []);
      await setTenantStatus(c, row.tenant, "offboarded", result);
    }),
  );
  await move(ctx, id, "released", { result, commit_sha: sha });
  ctx.log(`request ${id} (${row.tenant}): offboarded`);
}
