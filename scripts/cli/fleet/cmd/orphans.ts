/** `fleet orphans`: Hostwinds servers and IPs no stack owns, with their cost; released only with --release --yes. */
import { durationOption } from "../../../lib/args";
import { fleetOrphans } from "../commands";
import { FleetCommand, plural, selectFleet, usage, usd } from "./command";

export const orphans: FleetCommand = {
  name: "orphans",
  summary: [
    "Hostwinds servers marked by a stack of this backend and IPs that no",
    "stack in the backend owns (every stack, every project, pending operations",
    "included), with their monthly cost; a dry run unless --release --yes.",
    "Servers another backend marked are listed as foreign and never released",
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
          `${x.released ? "released" : x.foreign ? "foreign" : x.held ? "held" : "orphan"}  ${x.kind.padEnd(6)} ${(x.ip ?? "").padEnd(16)} ${x.server} (${x.serviceId})  ${usd(x.monthlyUsd)}/month${x.held && !x.released ? `  (held: ${x.held})` : ""}`,
        );
      const mine = r.orphans.filter((x) => !x.foreign);
      const foreign = r.orphans.length - mine.length;
      console.log(
        `${mine.length} ${plural(mine.length, "orphan")}, ${usd(r.monthlyUsd)}/month${r.released ? ", released" : mine.length ? " (dry run: --release --yes releases them)" : ""}${foreign ? `; ${foreign} foreign (another backend's, left alone)` : ""}`,
      );
    }
    return 0;
  },
};
