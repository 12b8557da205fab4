/**
 * The catalogue: what Hostwinds sells (locations, unmanaged plans, public images), fetched by
 * `npm run fleet -- catalog` into the checked-in catalog.json. Prices and plan checks work
 * offline from it (previews, policies, the pipeline without a key); the stand-in sells from it.
 */
import { z } from "zod";
import checkedIn from "./catalog.json";
import { Image, Location, Plan, imageSlug, locationSchema, planSchema } from "./wire";

export const catalogSchema = z.object({
  note: z.string(),
  source: z.string(),
  fetchedAt: z.string().nullable(),
  ipMonthlyPriceUsd: z.number(),
  locations: z.array(locationSchema),
  plans: z.array(planSchema),
  images: z.array(z.object({ name: z.string(), slug: z.string(), uuid: z.string() })),
  /**
   * What `npm run fleet -- probe --write` found, per account (a fingerprint of its key): each
   * ASSUMPTIONS entry (wire.ts) CONFIRMED, REFUTED or UNKNOWN, with what was seen.
   */
  probes: z
    .record(
      z.object({
        at: z.string(),
        apiUrl: z.string(),
        results: z.array(
          z.object({ n: z.number(), what: z.string(), verdict: z.enum(["CONFIRMED", "REFUTED", "UNKNOWN"]), evidence: z.string() }),
        ),
      }),
    )
    .optional(),
});
export type Catalog = z.infer<typeof catalogSchema>;

/** The checked-in catalogue, parsed once. */
let parsed: Catalog | undefined;
export function checkedInCatalog(): Catalog {
  parsed ??= catalogSchema.parse(checkedIn);
  return parsed;
}

/** What the live API answered, as the catalogue file holds it. */
export function toCatalog(
  live: { locations: Location[]; plans: Plan[]; images: Image[] },
  ipMonthlyPriceUsd: number,
  source: string,
): Catalog {
  return {
    note: checkedInCatalog().note,
    source,
    fetchedAt: new Date().toISOString(),
    ipMonthlyPriceUsd,
    locations: live.locations.map((l) => ({ id: l.id, name: l.name })),
    plans: live.plans,
    images: live.images.map((i) => ({ name: i.name, slug: imageSlug(i.name), uuid: i.uuid })),
    probes: checkedInCatalog().probes,
  };
}

/**
 * The image a config names: a UUID as it is, or a name (or its slug: "Debian 12" or "debian-12")
 * among the images; undefined when none matches.
 */
export function findImage(images: Array<{ name: string; uuid: string }>, wanted: string): { name: string; uuid: string } | undefined {
  const w = wanted.trim();
  return (
    images.find((i) => i.uuid.toLowerCase() === w.toLowerCase()) ??
    images.find((i) => i.name === w) ??
    images.find((i) => imageSlug(i.name) === imageSlug(w))
  );
}
