/** `fleet catalog`: what Hostwinds sells, written to providers/hostwinds/catalog.json. */
import * as path from "path";
import { projectRoot } from "../../../lib/engine/pulumi-env";
import { checkedInCatalog } from "../../../../providers/hostwinds/catalog";
import { catalogChanges, fetchCatalog, writeCatalog } from "../catalog";
import { FleetCommand, usage } from "./command";

export const catalog: FleetCommand = {
  name: "catalog",
  summary: [
    "read what Hostwinds sells (locations, unmanaged plans by rid, public images",
    "with UUIDs) and write providers/hostwinds/catalog.json, which tenant configs",
    "are checked against and the stand-in sells from (--out FILE, --ip-price USD)",
  ],
  async run({ flags, json }) {
    const price = flags["ip-price"] === undefined ? undefined : Number(flags["ip-price"]);
    if (price !== undefined && !(price >= 0)) usage("--ip-price must be a number of US dollars");
    const out = path.resolve(String(flags.out ?? path.join(projectRoot, "providers/hostwinds/catalog.json")));
    const c = await fetchCatalog({
      apiKey: process.env.HOSTWINDS_API_KEY,
      apiUrl: process.env.HOSTWINDS_API_URL,
      ipMonthlyPriceUsd: price,
      log: (l) => process.stderr.write(`${l}\n`),
    });
    const changes = catalogChanges(checkedInCatalog(), c);
    writeCatalog(out, c);
    if (json) console.log(JSON.stringify(c, null, 1));
    else console.log(changes.length ? changes.join("\n") : "no change in locations, plans or images");
    process.stderr.write(`catalog: wrote ${out}\n`);
    return 0;
  },
};
