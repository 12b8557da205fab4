/**
 * Long-lived engine workers: with `--inline` each pool slot of a fleet command hands its tenants
 * (and the provisioning service each slot its requests' `up`, service/apply.ts) to its own Node process (./engine-worker.ts, started on first use and kept until this process
 * ends), which runs the tenant program inline (scripts/lib/stacks/inline.ts). `@pulumi/pulumi`,
 * the program and the fleet code load once per worker instead of once per tenant, and no
 * language host or program process starts per tenant (the CLI still does, with its policy pack and
 * dynamic-provider processes). One tenant at a time per worker: `process.env` and the working
 * folder, which the program reads, are process-wide.
 *
 * A worker runs on the engine's Node (engineNodeDir(): this Node may be too old for the SDK) with
 * the engine's compile cache and V8 flags, in a process group of its own that the CLI it runs and
 * that CLI's plugins share. If it dies mid-tenant (killed, out of memory), its whole group is
 * killed with it: the CLI would otherwise go on alone with the run. That tenant fails with the exit
 * named, its stack is left as a killed CLI leaves it (lock, pending operations: `fleet recover`),
 * and the slot's next tenant starts a new worker. Its own group also keeps a Ctrl-C at the terminal
 * from reaching its CLI directly: when this process goes, the worker interrupts its CLI as Ctrl-C
 * would (./engine-worker.ts). A worker is also retired after its share of tenants
 * (tenantsPerWorker), so its memory stays bounded over a fleet.
 */
import { ChildProcess, fork } from "child_process";
import * as path from "path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { compileCacheDir, engineNodeDir, projectRoot } from "../engine/pulumi-env";
import { TenantChange } from "./changes";
import { TenantRunOptions } from "./tenant-run";

/** What the parent sends a worker: one tenant's operation and the options that cross a process boundary. */
export interface WorkerJob {
  id: number;
  tenant: string;
  slot: number;
  op: "preview" | "up";
  options: Pick<TenantRunOptions, "project" | "policyPacks" | "refresh" | "localBackend" | "homeTag" | "providersInProcess">;
  /** Resource types whose step events (resourcePreEvent, resOutputsEvent) the worker sends back as they happen. */
  events?: string[];
}

/** Asks a worker for its heap after a full collection (benchmarks), and to write a heap snapshot to `snapshot` when given. */
export interface MemoryAsk {
  memory: true;
  snapshot?: string;
}

/** What a worker answers: log lines while it runs, then the tenant's change; or its memory when asked. */
export type WorkerReply =
  { id: number; log: string } | { id: number; event: EngineEvent } | { id: number; change: TenantChange } | { memory: NodeJS.MemoryUsage };

interface Worker {
  child: ChildProcess;
  /** Tenants it has run; past tenantsPerWorker() it is retired once idle. */
  served: number;
  /** Waiting for the worker's answer to a MemoryAsk. */
  memory?: (m: NodeJS.MemoryUsage) => void;
  pending: Map<
    number,
    {
      tenant: string;
      resolve: (c: TenantChange) => void;
      reject: (e: Error) => void;
      log?: (l: string) => void;
      event?: (e: EngineEvent) => void;
    }
  >;
}

/** By Pulumi home (the slot's, or the caller's homeTag): jobs that may run at once never share a worker. */
const workers = new Map<string, Worker>();
let nextId = 1;
let started = 0;

/**
 * How many tenants one worker runs before it is retired and the slot's next tenant starts a new
 * one (`PENGUINMAILS_TENANTS_PER_WORKER`, default 100; 0 never retires). A worker's heap kept about
 * 0.45 MiB per tenant run until each run's gRPC clients were closed (scripts/lib/stacks/inline.ts);
 * it is now flat (`npm run bench -- --only worker-memory`): the retirement stays as a bound against
 * what a later SDK may keep, at one worker start per 100 tenants.
 */
export function tenantsPerWorker(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PENGUINMAILS_TENANTS_PER_WORKER;
  if (raw === undefined || raw === "") return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`PENGUINMAILS_TENANTS_PER_WORKER=${raw}: give a whole number of tenants (0: a worker is never retired)`);
  return n;
}

/** Workers started by this process so far (tests: a retired worker's slot starts a new one). */
export function engineWorkersStarted(): number {
  return started;
}

/** The pid of each slot's worker now running (benchmarks read their CPU). */
export function engineWorkerPids(): number[] {
  return [...workers.values()].map((w) => w.child.pid!).filter(Boolean);
}

/** The compiled worker beside this file, or in dist/ when this runs from source (tests under ts-jest). */
function workerScript(): string {
  if (__filename.endsWith(".js")) return path.join(__dirname, "engine-worker.js");
  return path.join(projectRoot, "dist", path.relative(projectRoot, __dirname), "engine-worker.js");
}

function startWorker(key: string): Worker {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (env.NODE_DISABLE_COMPILE_CACHE !== "1") env.NODE_COMPILE_CACHE = compileCacheDir();
  const child = fork(workerScript(), [], {
    execPath: path.join(engineNodeDir(), "node"),
    // The program's V8 flags (Pulumi.yaml nodeargs), so compile-cache entries match the CLI path's.
    execArgv: ["--allow-natives-syntax"],
    env,
    // The program's own console output goes to stderr: stdout is the fleet command's report.
    stdio: ["ignore", 2, 2, "ipc"],
    // Its own process group (it leads it), which the CLI it runs joins: killed as one below.
    detached: true,
  });
  const w: Worker = { child, served: 0, pending: new Map() };
  started++;
  child.on("message", (m: WorkerReply) => {
    if ("memory" in m) return w.memory?.(m.memory);
    const job = w.pending.get(m.id);
    if (!job) return;
    if ("log" in m) return job.log?.(m.log);
    if ("event" in m) return job.event?.(m.event);
    w.pending.delete(m.id);
    w.served++;
    job.resolve(m.change);
    idle(w);
    retireIfDone(key, w);
  });
  child.on("exit", (code, signal) => {
    if (workers.get(key) === w) workers.delete(key);
    if (w.pending.size) killGroup(child.pid);
    for (const job of w.pending.values())
      job.reject(
        new Error(
          `the engine worker ${key} (pid ${child.pid}) exited (${signal ?? `code ${code}`}) while running this tenant; its stack may be locked with pending operations: run \`fleet recover --tenant ${job.tenant}\` before its next up`,
        ),
      );
    w.pending.clear();
  });
  idle(w);
  return w;
}

/** Kills what is left of a dead worker's process group (its CLI and that CLI's plugins), as a killed CLI's run ends. */
function killGroup(pid: number | undefined): void {
  try {
    if (pid) process.kill(-pid, "SIGKILL");
  } catch {
    // Nothing left in it.
  }
}

/** An idle worker past its share of tenants leaves the slot (the next tenant starts a new one) and ends. */
function retireIfDone(key: string, w: Worker): void {
  const limit = tenantsPerWorker();
  if (limit === 0 || w.served < limit || w.pending.size > 0) return;
  if (workers.get(key) === w) workers.delete(key);
  if (w.child.connected) w.child.disconnect();
}

/** An idle worker does not keep this process alive; one at work does. */
function idle(w: Worker): void {
  const busy = w.pending.size > 0;
  const handle = w.child.channel as { ref?: () => void; unref?: () => void } | undefined;
  if (busy) {
    w.child.ref();
    handle?.ref?.();
  } else {
    w.child.unref();
    handle?.unref?.();
  }
}

/**
 * Runs one tenant's preview or up in the slot's worker (started when the slot has none). With
 * `events`, `onEvent` sees the step events of those resource types as the worker's engine reports them.
 */
export function changeInWorker(
  o: TenantRunOptions,
  tenant: string,
  slot: number,
  op: "preview" | "up",
  stream?: { types: string[]; onEvent: (e: EngineEvent) => void },
): Promise<TenantChange> {
  // A bad PENGUINMAILS_TENANTS_PER_WORKER fails the tenant here, before any engine run, not later in a worker's answer.
  tenantsPerWorker();
  const key = o.homeTag ?? `slot-${slot}`;
  let w = workers.get(key);
  if (!w) workers.set(key, (w = startWorker(key)));
  const id = nextId++;
  const job: WorkerJob = {
    id,
    tenant,
    slot,
    op,
    options: {
      project: o.project,
      policyPacks: o.policyPacks,
      refresh: o.refresh,
      localBackend: o.localBackend,
      homeTag: o.homeTag,
      providersInProcess: o.providersInProcess,
    },
    ...(stream ? { events: stream.types } : {}),
  };
  const worker = w;
  return new Promise<TenantChange>((resolve, reject) => {
    worker.pending.set(id, { tenant, resolve, reject, log: o.log, event: stream?.onEvent });
    idle(worker);
    worker.child.send(job);
  });
}

/**
 * Ctrl-C for the workers (their own process groups keep a terminal's Ctrl-C from them): SIGINT to
 * the group of each worker running a tenant, so its CLI stops as a CLI stops on Ctrl-C (the
 * operations under way finish, the stack is saved and unlocked) and the tenant ends failed. The
 * worker itself ignores it (./engine-worker.ts) and answers as usual. The number of workers interrupted.
 */
export function interruptEngineWorkers(): number {
  let n = 0;
  for (const w of workers.values()) {
    if (!w.pending.size || !w.child.pid) continue;
    try {
      process.kill(-w.child.pid, "SIGINT");
      n++;
    } catch {
      // Already gone: its exit fails the tenant.
    }
  }
  return n;
}

/**
 * Each running worker's memory as it reports it after a full garbage collection (benchmarks: what
 * the heap retains, against the resident set /proc shows). Ask between tenants. With `snapshot`,
 * each worker also writes a heap snapshot (V8's .heapsnapshot JSON) to `snapshot(pid)`.
 */
export function engineWorkerMemory(snapshot?: (pid: number) => string): Promise<Array<{ pid: number; memory: NodeJS.MemoryUsage }>> {
  return Promise.all(
    [...workers.values()].map(
      (w) =>
        new Promise<{ pid: number; memory: NodeJS.MemoryUsage }>((resolve) => {
          w.memory = (memory) => resolve({ pid: w.child.pid!, memory });
          w.child.send({ memory: true, snapshot: snapshot?.(w.child.pid!) } satisfies MemoryAsk);
        }),
    ),
  );
}

/** Ends every worker (a worker also ends by itself when this process does). */
export async function stopEngineWorkers(): Promise<void> {
  const all = [...workers.values()];
  workers.clear();
  await Promise.all(
    all.map(
      (w) =>
        new Promise<void>((r) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return r();
          w.child.once("exit", () => r());
          w.child.disconnect();
        }),
    ),
  );
}
