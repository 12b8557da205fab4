/** `fleet orphans`: Hostwinds servers and IPs no stack owns, with their cost; released only with --release --yes. */
import { durationOption } from "../../../lib/args";
import { fleetOrphans } from "../commands";
import { FleetCommand, plural, selectFleet, usage, usd } from "./command";

export const orphans: FleetCommand = {
  name: "orphans",
  summary: [
    "Hostwinds servers (marked pm-<tenant>.<server>@<stack>) and IPs that no",
    "stack in the backend owns (every stack, every project, pending operations",
    "included), with their monthly cost; a dry run unless --release --yes",
  ],
  async run(inv) {
    const { flags, json } = inv;
    const { o } = selectFleet(inv);
    if (flags.release && !flags.yes) usage("--release releases what is listed and cannot be undone: add --yes");
    const r = await fleetOrphans(o, {
      release: flags.release === true && flags.yes === true,
      graceMs: durationOption("fleet", "grace", flags.grace),
      minAgeMs: durationOption("fleet", "min-age", flags["min-age"]),
    });
    if (json) console.log(JSON.stringify(r, null, 1));
    else {
      for (const x of r.orphans)
        console.log(
          `${x.released ? "released" : x.held ? "held" : "orphan"}  ${x.kind.padEnd(6)} ${(x.ip ?? "").padEnd(16)} ${x.server} (${x.serviceId})  ${usd(x.monthlyUsd)}/month${x.held && !x.released ? `  (held: ${x.held})` : ""}`,
        );
      console.log(
        `${r.orphans.length} ${plural(r.orphans.length, "orphan")}, ${usd(r.monthlyUsd)}/month${r.released ? ", released" : r.orphans.length ? " (dry run: --release --yes releases them)" : ""}`,
      );
    }
    return 0;
  },
};
