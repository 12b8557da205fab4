/**
 * The fleet commands as functions (the CLI in scripts/cli/fleet.ts parses
 * arguments and prints): preview, up, drift, list, orphans. Every command
 * works tenant by tenant through the pool; one tenant's failure is recorded
 * and the others go on.
 */
import * as fs from "fs";
import * as path from "path";
import { Stack } from "@pulumi/pulumi/automation";
import { devDir } from "../../lib/engine/pulumi-env";
import { ChangeCollector, TenantChange, conciseError } from "../../lib/stacks/changes";
import { Orphan, Owned, StackState, findOrphans, hostwindsFromEnv, ownedBy, releasable, releaseOrphans } from "./orphans";
import { backendFingerprint } from "../../../providers/hostwinds/inputs";
import { backendStacks, backendUrl, describeLock, lockState, projectName, shortName, stackParts, stateStore } from "./backend";
import { parseCheckpoint } from "./checkpoints";
import { JobResult, runPool } from "./pool";
import { WaveOutcome, inWaves } from "./waves";
import { fleetWorkspace, openTenantStack } from "../../lib/stacks/stacks";
import { changedTenants, tenantStacks } from "../../lib/stacks/tenants";
import { StackOutputs, VerifyOptions, verifyStack } from "../../lib/verify/index";
import { CheckResult } from "../../lib/verify/result";
import { relayAccess } from "./recovery";
import { FleetOptions } from "./options";
import { changeInWorker } from "../../lib/stacks/engine-workers";
import { changeTenant } from "../../lib/stacks/tenant-run";

export type { FleetOptions } from "./options";

export interface Selection {
  tenants: string[];
  because: Record<string, string>;
  removed: string[];
}

/** The tenants a command works on, and why. */
export function selectTenants(o: FleetOptions): Selection {
  const all = tenantStacks(o.project);
  if (o.tenants?.length) {
    const unknown = o.tenants.filter((t) => !all.includes(t));
    if (unknown.length)
      throw new Error(
        `no stack config for tenant${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} in ${path.join(o.project.root, o.project.stacksDir)} (known: ${all.join(", ") || "none"})`,
      );
  }
  if (o.changedSince) {
    const c = changedTenants(o.project, o.changedSince);
    const tenants = o.tenants?.length ? c.tenants.filter((t) => o.tenants!.includes(t)) : c.tenants;
    return { tenants, because: c.because, removed: c.removed };
  }
  const tenants = o.tenants?.length ? o.tenants : all;
  return { tenants, because: Object.fromEntries(tenants.map((t) => [t, "selected"])), removed: [] };
}

const defaultConcurrency = () => 4;

async function perTenant<T>(
  o: FleetOptions,
  tenants: string[],
  job: (stack: Stack, tenant: string) => Promise<T>,
): Promise<JobResult<T>[]> {
  return runPool(
    tenants,
    o.concurrency ?? defaultConcurrency(),
    async (tenant, slot) => job(await openTenantStack(o.project, tenant, slot, o, false), tenant),
    o.onProgress,
  );
}

/**
 * Previews or applies each tenant with the policy pack; a tenant's failure is its own, never
 * thrown. With `o.inline` each pool slot sends its tenants to its own long-lived engine worker
 * (scripts/lib/stacks/engine-workers.ts), which runs the program inline.
 */
async function changeEach(
  o: FleetOptions,
  tenants: string[],
  op: "preview" | "up",
  halt?: { stopped: () => boolean; problem: (c: TenantChange) => void },
): Promise<TenantChange[]> {
  const results = await runPool(
    tenants,
    o.concurrency ?? defaultConcurrency(),
    async (tenant, slot) => {
      const change = o.inline ? await changeInWorker(o, tenant, slot, op) : await changeTenant(o, tenant, slot, op);
      if (change.status !== "ok") halt?.problem(change);
      return change;
    },
    o.onProgress,
    () => o.stopped?.() === true || halt?.stopped() === true,
  );
  return results.map((r) => {
    const c = r.value ?? failedChange(r.name, r.error);
    if (c.status !== "ok") halt?.problem(c);
    return c;
  });
}

export const fleetPreview = (o: FleetOptions, tenants: string[]) => changeEach(o, tenants, "preview");

/** Applies tenants in waves (waves.ts), halting at the first failed or blocked tenant. */
export async function fleetUpInWaves(
  o: FleetOptions,
  tenants: string[],
  percents: number[],
): Promise<{ results: TenantChange[]; outcome: WaveOutcome }> {
  let before = 0;
  return inWaves(
    tenants,
    percents,
    async (batch, stopped, problem) => {
      // Progress counts the whole rollout, not the wave.
      const wave: FleetOptions = {
        ...o,
        onProgress: o.onProgress && ((p) => o.onProgress!({ ...p, done: before + p.done, total: tenants.length })),
      };
      const got = await changeEach(wave, batch, "up", { stopped, problem });
      before += got.length;
      return got;
    },
    o.log,
  );
}

/** Applies every tenant; one tenant's failure does not stop the others (no waves). */
export const fleetUp = (o: FleetOptions, tenants: string[]) => changeEach(o, tenants, "up");

function failedChange(tenant: string, error?: string): TenantChange {
  const c = new ChangeCollector(tenant);
  c.failed(new Error(error ?? "unknown error"));
  return c.change;
}

export interface DriftResult {
  tenant: string;
  drifted: boolean;
  changes: string[];
  error?: string;
  checkedAt: string;
  /** What the inventory found different, when it sent the tenant to the engine. */
  inventory?: string[];
}

const DRIFT_FILE = () => path.join(devDir, "fleet", "drift.json");

/**
 * The engine's verdict on each tenant: a refresh in a preview (nothing is written) and what `up`
 * would then change; anything is drift (an IP released by hand, a record deleted in the
 * dashboard). `fleet drift` (drift.ts) runs it only for the tenants the inventory finds changed.
 */
export async function refreshDrift(o: FleetOptions, tenants: string[]): Promise<DriftResult[]> {
  const results = await perTenant(o, tenants, async (stack) => {
    const changes: string[] = [];
    await stack.preview({
      refresh: true,
      onEvent: (e) => {
        const m = e.resourcePreEvent?.metadata;
        if (m && m.op !== "same" && m.op !== "read" && m.op !== "refresh" && !m.type.startsWith("pulumi:")) {
          changes.push(`${m.op} ${m.urn.split("::").pop()}${m.diffs?.length ? ` (${m.diffs.join(", ")})` : ""}`);
        }
      },
    });
    return changes;
  });
  const now = new Date().toISOString();
  return results.map((r): DriftResult =>
    r.ok
      ? { tenant: r.name, drifted: r.value!.length > 0, changes: r.value!, checkedAt: now }
      : { tenant: r.name, drifted: false, changes: [], error: conciseError(new Error(r.error)), checkedAt: now },
  );
}

/** Keeps drift results for `fleet list`. */
export function keepDrift(out: DriftResult[]): void {
  const file = DRIFT_FILE();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const previous = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, DriftResult>) : {};
  fs.writeFileSync(file, JSON.stringify({ ...previous, ...Object.fromEntries(out.map((d) => [d.tenant, d])) }, null, 1));
}

export interface TenantSummary {
  tenant: string;
  servers: number;
  sendingIps: number;
  monthlyCostUsd: number;
  lastUpdate?: string;
  drift: "clean" | "drifted" | "unknown" | "error";
  error?: string;
}

export async function fleetList(o: FleetOptions, tenants: string[]): Promise<TenantSummary[]> {
  const drift = fs.existsSync(DRIFT_FILE()) ? (JSON.parse(fs.readFileSync(DRIFT_FILE(), "utf8")) as Record<string, DriftResult>) : {};
  const driftOf = (tenant: string): TenantSummary["drift"] => {
    const d = drift[tenant];
    return d ? (d.error ? "error" : d.drifted ? "drifted" : "clean") : "unknown";
  };
  // A DIY backend read here: the stack outputs and the last write straight from the checkpoints (no CLI call per tenant).
  const store = stateStore(backendUrl(o));
  if (store) {
    const texts = await store.checkpoints(projectName(o.project), tenants).finally(() => store.close());
    return tenants.map((tenant): TenantSummary => {
      const text = texts.get(tenant);
      if (text === undefined)
        return {
          tenant,
          servers: 0,
          sendingIps: 0,
          monthlyCostUsd: 0,
          drift: driftOf(tenant),
          error: `tenant ${tenant} has no stack yet (run fleet up)`,
        };
      try {
        const { resources, time } = parseCheckpoint(text);
        const outs = resources.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs ?? {};
        return {
          tenant,
          servers: Array.isArray(outs.servers) ? outs.servers.length : 0,
          sendingIps: Array.isArray(outs.sendingIps) ? outs.sendingIps.length : 0,
          monthlyCostUsd: (outs.monthlyCostUsd as { totalUsd?: number } | undefined)?.totalUsd ?? 0,
          lastUpdate: time ? new Date(time).toISOString() : undefined,
          drift: driftOf(tenant),
        };
      } catch (e) {
        return {
          tenant,
          servers: 0,
          sendingIps: 0,
          monthlyCostUsd: 0,
          drift: "unknown",
          error: `checkpoint unreadable: ${(e as Error).message}`,
        };
      }
    });
  }
  const results = await perTenant(o, tenants, async (stack, tenant) => {
    const outs = await stack.outputs();
    const info = await stack.info().catch(() => undefined);
    return {
      tenant,
      servers: (outs.servers?.value as unknown[] | undefined)?.length ?? 0,
      sendingIps: (outs.sendingIps?.value as unknown[] | undefined)?.length ?? 0,
      monthlyCostUsd: (outs.monthlyCostUsd?.value as { totalUsd?: number } | undefined)?.totalUsd ?? 0,
      lastUpdate: (info?.endTime ?? info?.startTime)?.toISOString(),
      drift: driftOf(tenant),
    } satisfies TenantSummary;
  });
  return results.map((r) => r.value ?? { tenant: r.name, servers: 0, sendingIps: 0, monthlyCostUsd: 0, drift: "unknown", error: r.error });
}

export interface TenantVerification {
  tenant: string;
  results: CheckResult[];
  error?: string;
}

/** `npm run verify`'s checks for every deployed tenant. */
export async function fleetVerify(o: FleetOptions, tenants: string[], v: VerifyOptions): Promise<TenantVerification[]> {
  const results = await perTenant(o, tenants, async (stack, tenant) => {
    const outs = Object.fromEntries(Object.entries(await stack.outputs()).map(([k, x]) => [k, x.value])) as unknown as StackOutputs;
    if (!outs.dnsRecords || !outs.servers) throw new Error(`tenant ${tenant} has no outputs yet (not deployed)`);
    return { tenant, results: await verifyStack(outs, { ssh: relayAccess(stack, tenant), ...v }) };
  });
  return results.map((r) => r.value ?? { tenant: r.name, results: [], error: r.error });
}

export interface OrphansResult {
  orphans: Orphan[];
  monthlyUsd: number;
  released: boolean;
}

/**
 * The owner set from every stack in the backend (all projects), each one's state and whether an
 * update holds it. Any stack whose state cannot be read makes the answer unsafe: an error.
 */
export async function ownerScan(o: FleetOptions): Promise<Owned> {
  const ws = await fleetWorkspace(o.project, o);
  const project = (await ws.projectSettings()).name;
  const store = stateStore(ws.envVars.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL);
  try {
    const stacks = await backendStacks(ws, store);
    // A DIY backend read here: every checkpoint read directly, per project, no CLI call per stack.
    const direct = new Map<string, string>();
    if (store) {
      const byProject = new Map<string, string[]>();
      for (const s of stacks) {
        const p = stackParts(s.name, project);
        byProject.set(p.project, [...(byProject.get(p.project) ?? []), p.stack]);
      }
      for (const [p, names] of byProject)
        for (const [stack, text] of await store.checkpoints(p, names))
          direct.set(!p || p === project ? stack : `organization/${p}/${stack}`, text);
    }
    const results = await runPool(
      stacks.map((s) => s.name),
      o.concurrency ?? defaultConcurrency(),
      async (name, slot): Promise<StackState> => {
        let resources: StackState["resources"];
        let pending: StackState["pending"];
        if (store) {
          const text = direct.get(name);
          if (text === undefined) throw new Error("its checkpoint vanished while being read");
          ({ resources, pending } = parseCheckpoint(text));
        } else {
          const stack = await openTenantStack(o.project, name, slot, o, false);
          const d = (await stack.exportStack()).deployment as {
            resources?: StackState["resources"];
            pending_operations?: StackState["pending"];
          };
          resources = d?.resources ?? [];
          pending = d?.pending_operations ?? [];
        }
        const lock = await lockState(
          store,
          stacks.find((s) => s.name === name)!,
          project,
        );
        return {
          stack: shortName(name),
          project: stackParts(name, project).project || project,
          busy: lock.kind === "free" ? undefined : describeLock(lock),
          resources,
          pending,
        };
      },
    );
    const failed = results.filter((r) => !r.ok);
    if (failed.length)
      throw new Error(
        `could not read the state of ${failed.map((f) => `${f.name} (${f.error})`).join(", ")}; without every stack's state, nothing can be called an orphan`,
      );
    // This backend as the server marks name it (the engine runs the program with this env on top of ours).
    return ownedBy(
      results.map((r) => r.value!),
      { backend: backendFingerprint({ ...process.env, ...ws.envVars }), project },
    );
  } finally {
    await store?.close();
  }
}

export interface OrphanOptions {
  release: boolean;
  /** Between the two scans a release needs (default 10 min). */
  graceMs?: number;
  /** Servers younger than this are never released (default 1 day). */
  minAgeMs?: number;
}

/**
 * Lists what no stack owns (a dry run), or releases it: scan, wait the grace period, scan again
 * (owner set and locks read anew), and release only what both scans found unowned and not held.
 */
export async function fleetOrphans(o: FleetOptions, r: OrphanOptions): Promise<OrphansResult> {
  const rules = { minAgeMs: r.minAgeMs ?? 24 * 3600_000 };
  const { client, ipMonthlyPriceUsd } = hostwindsFromEnv();
  const first = await findOrphans(client, await ownerScan(o), ipMonthlyPriceUsd, rules);
  let orphans = first;
  if (r.release && first.some((x) => !x.held)) {
    const graceMs = r.graceMs ?? 10 * 60_000;
    o.log?.(`orphans: ${first.filter((x) => !x.held).length} unowned; scanning again in ${Math.round(graceMs / 1000)} s before releasing`);
    await new Promise((res) => setTimeout(res, graceMs));
    const second = await findOrphans(client, await ownerScan(o), ipMonthlyPriceUsd, rules);
    await releaseOrphans(client, releasable(first, second), o.log ?? (() => undefined));
    orphans = second;
  }
  return {
    orphans,
    // Foreign servers (another backend's) are listed, never counted as money spent on nothing.
    monthlyUsd: Math.round(orphans.reduce((s, x) => s + (x.foreign ? 0 : x.monthlyUsd), 0) * 100) / 100,
    released: orphans.some((x) => x.released),
  };
}
