/**
 * `fleet preview` and `fleet up`: one engine run per selected tenant (here, or on the Postgres
 * queue), one Markdown report; up rolls out in waves and halts at the first problem.
 */
import * as fs from "fs";
import { TenantChange } from "../../../lib/stacks/changes";
import { fleetPreview, fleetUpInWaves } from "../commands";
import { WaveOutcome, inWaves } from "../waves";
import { QueueRunOptions, runOnQueue } from "../queue";
import { renderReport } from "../report";
import { onCtrlC } from "../interrupt";
import { FleetCommand, FleetRun, Invocation, selectFleet } from "./command";

type Halted = WaveOutcome["halted"];

/** Runs the changes: up in waves (the first failed or blocked tenant halts the rollout), preview all at once. */
async function runChanges(command: "preview" | "up", f: FleetRun): Promise<{ results: TenantChange[]; halted: Halted }> {
  const { o, tenants, waves, queued, database } = f;
  if (!tenants.length) return { results: [], halted: undefined };
  const onQueue = (batch: string[], halt?: QueueRunOptions["halt"]) =>
    runOnQueue(database!, o, command, batch, { halt }) as Promise<TenantChange[]>;
  if (command === "preview") return { results: queued ? await onQueue(tenants) : await fleetPreview(o, tenants), halted: undefined };
  // On the queue the first failed or blocked tenant removes its wave's jobs not yet taken; no later wave is queued.
  const r = queued
    ? await inWaves(tenants, waves, (batch, _stopped, problem) => onQueue(batch, { problem }), o.log)
    : await fleetUpInWaves(o, tenants, waves);
  return { results: r.results, halted: r.outcome.halted };
}

function reportFooter(changedSince: string | undefined, halted: Halted, notStarted: string[] | undefined): string | undefined {
  return (
    [
      changedSince ? `Tenants changed since \`${changedSince}\`.` : "",
      notStarted
        ? `**Interrupted (Ctrl-C)**: the tenants running stopped as pulumi stops on Ctrl-C; ${notStarted.length} not started${notStarted.length ? `: ${notStarted.join(", ")}` : ""}.`
        : "",
      halted
        ? `**Rollout halted in wave ${halted.wave}**: ${halted.tenant} ${halted.status === "blocked" ? "was blocked by policy" : "failed"}; ${halted.notRun.length} tenant${halted.notRun.length === 1 ? " was" : "s were"} not started: ${halted.notRun.join(", ")}.`
        : "",
    ]
      .filter(Boolean)
      .join("\n\n") || undefined
  );
}

async function changes(inv: Invocation & { command: "preview" | "up" }): Promise<number> {
  const { command, flags, json } = inv;
  const f = selectFleet(inv);
  // On the queue the jobs are the workers'; here Ctrl-C stops the run as pulumi's does (../interrupt.ts).
  const ctrlC = f.queued ? undefined : onCtrlC(command);
  f.o.stopped = ctrlC?.interrupted;
  const { results, halted } = await runChanges(command, f).finally(() => ctrlC?.dispose());
  const interrupted = ctrlC?.interrupted() === true;
  const notStarted = interrupted ? f.tenants.filter((t) => !results.some((r) => r.tenant === t)) : undefined;
  const report = renderReport(results, {
    title: command === "up" ? "Fleet apply" : "Fleet preview",
    footer: reportFooter(f.o.changedSince, halted, notStarted),
  });
  if (typeof flags.report === "string") fs.writeFileSync(flags.report, report);
  if (json)
    console.log(JSON.stringify({ tenants: results, ...(halted ? { halted } : {}), ...(notStarted ? { notStarted } : {}) }, null, 1));
  else if (typeof flags.report !== "string") console.log(report);
  if (halted)
    process.stderr.write(
      `fleet up: rollout halted in wave ${halted.wave} at ${halted.tenant} (${halted.status}); not started: ${halted.notRun.join(", ") || "none"}\n`,
    );
  const bad = results.filter((r) => r.status !== "ok");
  for (const r of bad) process.stderr.write(`fleet ${command}: ${r.tenant} ${r.status}: ${r.error}\n`);
  process.stderr.write(
    `fleet ${command}: ${results.length - bad.length} of ${results.length} succeeded${bad.length ? `; ${bad.map((r) => `${r.tenant} (${r.status})`).join(", ")} did not` : ""}\n`,
  );
  if (notStarted) process.stderr.write(`fleet ${command}: interrupted; not started: ${notStarted.join(", ") || "none"}\n`);
  return interrupted ? 130 : bad.length ? 1 : 0;
}

export const preview: FleetCommand = {
  name: "preview",
  summary: [
    "preview tenant stacks with the policy pack; writes a Markdown report",
    "(summary, cost before → after, details per tenant) for a PR comment",
  ],
  run: (inv) => changes({ ...inv, command: "preview" }),
};

export const up: FleetCommand = {
  name: "up",
  summary: ["apply tenant stacks; one tenant's failure does not stop the others"],
  run: (inv) => changes({ ...inv, command: "up" }),
};
