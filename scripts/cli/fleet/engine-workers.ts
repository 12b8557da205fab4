/**
 * Long-lived engine workers: with `--inline` each pool slot of a fleet command hands its tenants
 * to its own Node process (./engine-worker.ts, started on first use and kept until this process
 * ends), which runs the tenant program inline (scripts/lib/stacks/inline.ts). `@pulumi/pulumi`,
 * the program and the fleet code load once per worker instead of once per tenant, and no
 * language host or program process starts per tenant (the CLI still does, with its policy pack and
 * dynamic-provider processes). One tenant at a time per worker: `process.env` and the working
 * folder, which the program reads, are process-wide.
 *
 * A worker runs on the engine's Node (engineNodeDir(): this Node may be too old for the SDK) with
 * the engine's compile cache and V8 flags. If it dies mid-tenant, that tenant fails with the exit
 * named, its stack is left as a killed CLI leaves it (lock, pending operations: `fleet recover`),
 * and the slot's next tenant starts a new worker.
 */
import { ChildProcess, fork } from "child_process";
import * as path from "path";
import { compileCacheDir, engineNodeDir, projectRoot } from "../../lib/engine/pulumi-env";
import { TenantChange } from "../../lib/stacks/changes";
import { FleetOptions } from "./options";

/** What the parent sends a worker: one tenant's operation and the options that cross a process boundary. */
export interface WorkerJob {
  id: number;
  tenant: string;
  slot: number;
  op: "preview" | "up";
  options: Pick<FleetOptions, "project" | "policyPacks" | "refresh" | "localBackend" | "homeTag">;
}

/** What a worker answers: log lines while it runs, then the tenant's change. */
export type WorkerReply = { id: number; log: string } | { id: number; change: TenantChange };

interface Worker {
  child: ChildProcess;
  pending: Map<number, { resolve: (c: TenantChange) => void; reject: (e: Error) => void; log?: (l: string) => void }>;
}

/** By Pulumi home (the slot's, or the caller's homeTag): jobs that may run at once never share a worker. */
const workers = new Map<string, Worker>();
let nextId = 1;

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
  });
  const w: Worker = { child, pending: new Map() };
  child.on("message", (m: WorkerReply) => {
    const job = w.pending.get(m.id);
    if (!job) return;
    if ("log" in m) return job.log?.(m.log);
    w.pending.delete(m.id);
    job.resolve(m.change);
    idle(w);
  });
  child.on("exit", (code, signal) => {
    if (workers.get(key) === w) workers.delete(key);
    for (const job of w.pending.values())
      job.reject(new Error(`the engine worker ${key} exited (${signal ?? `code ${code}`}) while running this tenant`));
    w.pending.clear();
  });
  idle(w);
  return w;
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

/** Runs one tenant's preview or up in the slot's worker (started when the slot has none). */
export function changeInWorker(o: FleetOptions, tenant: string, slot: number, op: "preview" | "up"): Promise<TenantChange> {
  const key = o.homeTag ?? `slot-${slot}`;
  let w = workers.get(key);
  if (!w) workers.set(key, (w = startWorker(key)));
  const id = nextId++;
  const job: WorkerJob = {
    id,
    tenant,
    slot,
    op,
    options: { project: o.project, policyPacks: o.policyPacks, refresh: o.refresh, localBackend: o.localBackend, homeTag: o.homeTag },
  };
  const worker = w;
  return new Promise<TenantChange>((resolve, reject) => {
    worker.pending.set(id, { resolve, reject, log: o.log });
    idle(worker);
    worker.child.send(job);
  });
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
