/** `fleet probe`: each assumption about the Hostwinds API checked with calls that cost nothing. */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../../../lib/engine/pulumi-env";
import { catalogSchema, checkedInCatalog } from "../../../../providers/hostwinds/catalog";
import { HostwindsClient } from "../../../../providers/hostwinds/client";
import { DEFAULT_API_URL } from "../../../../providers/hostwinds/wire";
import { writeCatalog } from "../catalog";
import { accountFingerprint, probeAccount, renderProbe } from "../probe";
import { FleetCommand, usage } from "./command";

export const probe: FleetCommand = {
  name: "probe",
  summary: [
    "check each assumption about the Hostwinds API (providers/hostwinds/wire.ts",
    "ASSUMPTIONS) with calls that cost nothing; prints CONFIRMED / REFUTED /",
    "UNKNOWN with the answer's shape; --write records it in the catalogue;",
    "--rename SERVICEID also renames that server and restores it (the name check)",
  ],
  async run({ flags, json }) {
    const apiKey = process.env.HOSTWINDS_API_KEY;
    if (!apiKey) usage("probe needs a Hostwinds API key in HOSTWINDS_API_KEY (read-only calls)");
    const rename = flags.rename === undefined ? undefined : Number(flags.rename);
    if (rename !== undefined && !(Number.isInteger(rename) && rename > 0))
      usage("--rename needs the service id of a server to rename and restore");
    const apiUrl = process.env.HOSTWINDS_API_URL ?? DEFAULT_API_URL;
    const results = await probeAccount(new HostwindsClient({ apiKey: apiKey!, apiUrl }), {
      renameServiceId: rename,
      ipPurchaseAction: process.env.HOSTWINDS_IP_PURCHASE_ACTION,
      log: (l) => process.stderr.write(`${l}\n`),
    });
    if (json) console.log(JSON.stringify(results, null, 1));
    else console.log(renderProbe(results));
    if (flags.write) {
      const out = path.resolve(String(flags.out ?? path.join(projectRoot, "providers/hostwinds/catalog.json")));
      const c = fs.existsSync(out) ? catalogSchema.parse(JSON.parse(fs.readFileSync(out, "utf8"))) : checkedInCatalog();
      c.probes = { ...c.probes, [accountFingerprint(apiKey!)]: { at: new Date().toISOString(), apiUrl, results } };
      writeCatalog(out, c);
      process.stderr.write(`probe: wrote the result to ${out}\n`);
    }
    return results.some((r) => r.verdict === "REFUTED") ? 1 : 0;
  },
};
