/**
 * A long-lived engine worker's memory over many tenants: N tenant previews (small tenants, each its
 * own stack, the policy pack on) through one engine worker (`fleet preview --inline`, one slot),
 * on the stand-ins and a local backend. The worker's resident set (VmRSS from /proc) is read after
 * its first tenant (warm), then after 100, 500 and 1,000 tenants (those up to N, and N), with its
 * peak (VmHWM), what its heap retains after a full collection (heapUsed, and external memory:
 * Buffers and native objects, as the worker reports them), and the wall time per tenant over each
 * stretch. Linux only.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../lib/engine/pulumi-env";
import { startBenchFleet } from "./bench-fleet";
import { fleetPreview } from "../../cli/fleet/commands";
import { engineWorkerMemory, engineWorkerPids, stopEngineWorkers } from "../../lib/stacks/engine-workers";
import { fleetProject } from "../../lib/stacks/tenants";

/** Tenants previewed between two readings of the worker's memory. */
const BATCH = 10;

export interface MemoryRow {
  tenants: number;
  rssMiB: number;
  peakMiB: number;
  /** After a full garbage collection (engineWorkerMemory). */
  heapMiB: number;
  externalMiB: number;
  /** Wall seconds per tenant since the previous row. */
  wallPerTenantS: number;
}
export interface WorkerMemoryResult {
  worker: number;
  failed: number;
  rows: MemoryRow[];
}

/** The process's resident set and its peak, in MiB. */
function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

/** The 1-minute load average (/proc/loadavg), for the progress lines of a long run. */
function loadAverage(): string {
  return fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0];
}

/**
 * The tenant counts at which the worker's memory is reported: 1 (warm), `at` (100, 500, 1000 by
 * default) below `tenants`, and `tenants`.
 */
export function memoryMarks(tenants: number, at: number[] = [100, 500, 1000]): number[] {
  return [...new Set([1, ...at.filter((n) => n > 1 && n < tenants), tenants])].sort((a, b) => a - b);
}

export interface WorkerMemoryOptions {
  /** Tenant counts to report at (memoryMarks). */
  marks?: number[];
  /** Also write a heap snapshot of the worker at each mark into this folder (worker-<tenants>.heapsnapshot; scripts/dev/heap-diff.ts compares two). */
  snapshotDir?: string;
}

export async function workerMemoryBench(
  tenants: number,
  progress: (l: string) => void,
  opts: WorkerMemoryOptions = {},
): Promise<WorkerMemoryResult> {
  // One worker for the whole run, never retired (engine-workers.ts tenantsPerWorker): its growth is what is measured.
  const fleet = await startBenchFleet({
    name: "bench-worker-memory",
    tenants,
    prefix: "m",
    digits: 4,
    env: () => ({ PENGUINMAILS_TENANTS_PER_WORKER: "0" }),
  });
  const { dir, ids, backend } = fleet;
  try {
    const o = {
      project: fleetProject(dir),
      concurrency: 1,
      localBackend: backend,
      policyPacks: [path.join(projectRoot, "policies")],
      inline: true,
    };
    const marks = memoryMarks(tenants, opts.marks);
    if (opts.snapshotDir) fs.mkdirSync(opts.snapshotDir, { recursive: true });
    const rows: MemoryRow[] = [];
    let failed = 0;
    let done = 0;
    let since = Date.now();
    let worker = 0;
    while (done < tenants) {
      const next = Math.min(tenants, done === 0 ? 1 : done + BATCH, ...marks.filter((m) => m > done));
      const results = await fleetPreview(o, ids.slice(done, next));
      failed += results.filter((r) => r.status !== "ok").length;
      const pids = engineWorkerPids();
      if (pids.length !== 1 || (worker && pids[0] !== worker))
        throw new Error(`expected one engine worker throughout, found ${pids.join(", ") || "none"} (was ${worker})`);
      worker = pids[0];
      const at = Date.now();
      if (marks.includes(next)) {
        const wallPerTenantS = (at - since) / 1000 / (next - (rows.at(-1)?.tenants ?? 0));
        const resident = memoryOf(worker);
        const snapshot = opts.snapshotDir ? () => path.resolve(opts.snapshotDir!, `worker-${next}.heapsnapshot`) : undefined;
        const [{ memory }] = await engineWorkerMemory(snapshot);
        const heap = { heapMiB: memory.heapUsed / 2 ** 20, externalMiB: memory.external / 2 ** 20 };
        rows.push({ tenants: next, ...resident, ...heap, wallPerTenantS });
        since = Date.now();
        const r = rows.at(-1)!;
        progress(
          `${next} tenants: worker RSS ${r.rssMiB.toFixed(0)} MiB, heap ${r.heapMiB.toFixed(1)} MiB, ${r.wallPerTenantS.toFixed(2)} s/tenant, load ${loadAverage()} (${failed} failed)`,
        );
      }
      done = next;
    }
    return { worker, failed, rows };
  } finally {
    await stopEngineWorkers();
    await fleet.stop();
  }
}

export function printWorkerMemory(r: WorkerMemoryResult): void {
  const warm = r.rows[0];
  console.log(`\nOne engine worker (pid ${r.worker}), tenant previews inline one after another (policy pack on), ${r.failed} failed`);
  console.log("  (heap and external: what the worker retains after a full garbage collection)");
  console.log("  (heap KiB/tenant: the heap's growth per tenant since the row before)");
  console.log("  tenants   RSS MiB   peak MiB   vs warm   heap MiB   heap KiB/tenant   external MiB   wall s/tenant");
  const mib = (n: number, w: number) => n.toFixed(0).padStart(w);
  r.rows.forEach((x, i) => {
    const prev = r.rows[i - 1];
    const perTenant = prev ? (((x.heapMiB - prev.heapMiB) * 1024) / (x.tenants - prev.tenants)).toFixed(1) : "";
    console.log(
      `  ${String(x.tenants).padStart(7)}  ${mib(x.rssMiB, 8)}  ${mib(x.peakMiB, 9)}  ${`×${(x.rssMiB / warm.rssMiB).toFixed(2)}`.padStart(8)}  ${x.heapMiB.toFixed(1).padStart(9)}  ${perTenant.padStart(16)}  ${mib(x.externalMiB, 13)}  ${x.wallPerTenantS.toFixed(2).padStart(14)}`,
    );
  });
}
