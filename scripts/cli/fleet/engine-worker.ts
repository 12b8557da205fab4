/**
 * An engine worker process (./engine-workers.ts starts it): runs the jobs its parent sends, one
 * tenant at a time, each with the tenant program inline (scripts/lib/stacks/inline.ts), and
 * answers with the tenant's change. It ends when its parent disconnects or exits.
 */
import { changeTenant } from "./commands";
import type { WorkerJob, WorkerReply } from "./engine-workers";

const reply = (m: WorkerReply) => process.send?.(m);

let queue: Promise<void> = Promise.resolve();

process.on("message", (job: WorkerJob) => {
  queue = queue.then(async () => {
    const o = { ...job.options, inline: true, concurrency: 1, log: (line: string) => reply({ id: job.id, log: line }) };
    reply({ id: job.id, change: await changeTenant(o, job.tenant, job.slot, job.op) });
  });
});
process.on("disconnect", () => process.exit(0));
