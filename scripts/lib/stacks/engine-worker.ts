/**
 * An engine worker process (./engine-workers.ts starts it): runs the jobs its parent sends, one
 * tenant at a time, each with the tenant program inline (scripts/lib/stacks/inline.ts), and
 * answers with the tenant's change. It ends when its parent disconnects or exits: at once when
 * idle; mid-tenant it first interrupts its CLI as a Ctrl-C at the terminal would (SIGINT to its
 * process group, which a terminal's Ctrl-C does not reach), so the run stops as a CLI run stops on
 * Ctrl-C, then ends when that tenant's run does.
 */
import { EngineEvent } from "@pulumi/pulumi/automation";
import { changeTenant } from "./tenant-run";
import * as v8 from "v8";
import * as vm from "vm";
import type { MemoryAsk, WorkerJob, WorkerReply } from "./engine-workers";

const reply = (m: WorkerReply) => {
  if (process.connected) process.send?.(m);
};

let queue: Promise<void> = Promise.resolve();

// A SIGINT to this worker's group (engine-workers.ts interruptEngineWorkers, or below) is for the
// CLI it runs: the worker answers with the interrupted tenant's change and goes on.
process.on("SIGINT", () => undefined);
let busy = 0;

/** A full garbage collection, without starting the worker with --expose-gc (its V8 flags stay the CLI program's). */
function collect(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

process.on("message", (job: WorkerJob | MemoryAsk) => {
  if ("memory" in job) {
    collect();
    const memory = process.memoryUsage();
    // After the collection: what the heap retains, for scripts/dev/heap-diff.ts.
    if (job.snapshot) v8.writeHeapSnapshot(job.snapshot);
    return reply({ memory });
  }
  busy++;
  queue = queue.then(async () => {
    const o = { ...job.options, inline: true, concurrency: 1, log: (line: string) => reply({ id: job.id, log: line }) };
    // Only the step events of the types asked for cross the IPC (a tenant has hundreds of events).
    const types = job.events && new Set(job.events);
    const stream = types
      ? (event: EngineEvent) => {
          const type = event.resourcePreEvent?.metadata.type ?? event.resOutputsEvent?.metadata.type;
          if (type && types.has(type)) reply({ id: job.id, event });
        }
      : undefined;
    reply({ id: job.id, change: await changeTenant(o, job.tenant, job.slot, job.op, stream) });
    busy--;
  });
});
process.on("disconnect", () => {
  if (!busy) process.exit(0);
  try {
    process.kill(-process.pid, "SIGINT");
  } catch {
    // Not a group leader (started by hand): nothing else to interrupt.
  }
  void queue.finally(() => process.exit(0));
});
