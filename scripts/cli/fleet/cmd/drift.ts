/** `fleet drift`: the real world against the checkpoints, the engine only where they differ. */
import { DriftResult } from "../commands";
import { fleetDrift } from "../drift";
import { runOnQueue } from "../queue";
import { FleetCommand, selectFleet } from "./command";

export const drift: FleetCommand = {
  name: "drift",
  summary: [
    "lists Hostwinds (servers, their IPs) and Cloudflare (zones, records) in",
    "bulk, compares them with the checkpoints, and refresh-previews only the",
    "stacks that differ; lists those whose real resources differ from their",
    "state and how (kept for 'list'); prints API calls and engine runs",
    "(--engine-only: refresh-preview every stack, the old way)",
  ],
  async run(inv) {
    const { flags, json } = inv;
    const { o, tenants, queued, database } = selectFleet(inv);
    const { tenants: results, stats } = await fleetDrift(o, tenants, {
      engineOnly: flags["engine-only"] === true,
      engine: queued ? (t) => runOnQueue(database!, o, "drift", t) as Promise<DriftResult[]> : undefined,
    });
    if (json) console.log(JSON.stringify({ tenants: results, stats }, null, 1));
    else
      for (const d of results)
        console.log(
          d.error
            ? `${d.tenant}: could not check: ${d.error}`
            : d.drifted
              ? `${d.tenant}: DRIFTED\n${d.changes.map((c) => `  ${c}`).join("\n")}`
              : `${d.tenant}: clean`,
        );
    process.stderr.write(
      `fleet drift: ${stats.tenants} tenants, ${stats.engineRuns} engine run${stats.engineRuns === 1 ? "" : "s"}, API calls: Hostwinds ${stats.apiCalls.hostwinds}, Cloudflare ${stats.apiCalls.cloudflare}; inventory ${stats.inventoryS.toFixed(1)} s, engine ${stats.engineS.toFixed(1)} s${stats.inventorySkipped ? ` (inventory skipped: ${stats.inventorySkipped})` : ""}\n`,
    );
    return results.some((d) => d.drifted || d.error) ? 1 : 0;
  },
};
