/**
 * `npm run fleet -- catalog`: what Hostwinds sells, read from the live API (get_locations,
 * get_price_list with managed=0, get_public_images), written to the checked-in catalogue
 * (providers/hostwinds/catalog.json) so tenant configs validate real location ids, plan rids
 * and image names offline. Read-only: it buys and changes nothing.
 */
import * as fs from "fs";
import { HostwindsClient } from "../../../providers/hostwinds/client";
import { Catalog, checkedInCatalog, toCatalog } from "../../../providers/hostwinds/catalog";
import { DEFAULT_API_URL } from "../../../providers/hostwinds/wire";

export interface CatalogOptions {
  apiKey: string | undefined;
  apiUrl?: string;
  /** The IP price to record (Hostwinds publishes none); default the one already in the file. */
  ipMonthlyPriceUsd?: number;
  log: (line: string) => void;
}

export async function fetchCatalog(o: CatalogOptions): Promise<Catalog> {
  if (!o.apiKey) throw new Error("catalog needs a Hostwinds API key in HOSTWINDS_API_KEY (read-only calls: locations, price list, images)");
  const client = new HostwindsClient({ apiKey: o.apiKey, apiUrl: o.apiUrl });
  o.log(`catalog: reading locations, unmanaged plans and public images from ${o.apiUrl ?? DEFAULT_API_URL}`);
  const [locations, plans, images] = [await client.locations(), await client.priceList(), await client.images()];
  o.log(`catalog: ${locations.length} locations, ${plans.length} plans, ${images.length} images`);
  const source = o.apiUrl && o.apiUrl !== DEFAULT_API_URL ? `fetched from ${o.apiUrl}` : "fetched from Hostwinds";
  return toCatalog({ locations, plans, images }, o.ipMonthlyPriceUsd ?? checkedInCatalog().ipMonthlyPriceUsd, source);
}

/** What changed between two catalogues, one line each (for the operator and the PR that commits it). */
export function catalogChanges(before: Catalog, after: Catalog): string[] {
  const out: string[] = [];
  const diff = <T>(what: string, a: T[], b: T[], key: (x: T) => string, show: (x: T) => string) => {
    const ka = new Set(a.map(key));
    const kb = new Set(b.map(key));
    for (const x of b) if (!ka.has(key(x))) out.push(`+ ${what} ${show(x)}`);
    for (const x of a) if (!kb.has(key(x))) out.push(`- ${what} ${show(x)}`);
  };
  diff(
    "location",
    before.locations,
    after.locations,
    (l) => `${l.id}`,
    (l) => `${l.id} ${l.name}`,
  );
  diff(
    "plan",
    before.plans,
    after.plans,
    (p) => `${p.rid}:${p.monthly}`,
    (p) => `rid ${p.rid} ${p.name} $${p.monthly}/month`,
  );
  diff(
    "image",
    before.images,
    after.images,
    (i) => i.uuid,
    (i) => `${i.slug} ${i.uuid}`,
  );
  return out;
}

export function writeCatalog(file: string, c: Catalog): void {
  fs.writeFileSync(file, `${JSON.stringify(c, null, 2)}\n`);
}
