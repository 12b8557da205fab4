/** `fleet report FILE…`: one Markdown report from several preview shards' --json output. */
import * as fs from "fs";
import { TenantChange } from "../../../lib/stacks/changes";
import { renderReport } from "../report";
import { FleetCommand, usage } from "./command";

export const report: FleetCommand = {
  name: "report",
  synopsis: "report FILE…",
  summary: ["one Markdown report from the --json output of several preview shards"],
  files: true,
  async run({ flags, files }) {
    if (!files.length) usage("report needs the --json files of the preview shards");
    const results = files.flatMap((f) => {
      try {
        return (JSON.parse(fs.readFileSync(f, "utf8")) as { tenants: TenantChange[] }).tenants;
      } catch (e) {
        throw new Error(`${f}: not the --json output of fleet preview (${(e as Error).message})`);
      }
    });
    console.log(renderReport(results));
    return flags.check && results.some((r) => r.status !== "ok") ? 1 : 0;
  },
};
