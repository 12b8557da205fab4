/**
 * The catalogue: what Hostwinds sells (locations, unmanaged plans, public images), fetched by
 * `npm run fleet -- catalog` into the checked-in catalog.json. Prices and plan checks work
 * offline from it (previews, policies, the pipeline without a key); the stand-in sells from it.
 */
import { createHash } from "crypto";
import { z } from "zod";
import checkedIn from "./catalog.json";
import { Image, Location, Plan, imageSlug, locationSchema, planSchema } from "./wire";
import { PriceBook } from "../model/pricing";

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
      z.string(),
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

/** The checked-in catalogue's prices, for offline use (previews, policies, the pipeline without a key). */
export function defaultPriceBook(): Omit<PriceBook, "plans"> & { plans: Plan[] } {
  const c = checkedInCatalog();
  return { plans: c.plans, ipMonthlyPriceUsd: c.ipMonthlyPriceUsd };
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

/** A short fingerprint of an API key, naming the account a probe was run on (not the key, nor enough to guess it). */
export const accountFingerprint = (apiKey: string): string =>
  createHash("sha256").update(`hostwinds\n${apiKey}`).digest("hex").slice(0, 12);

/**
 * Refuses a purchase on an account that was never probed (`npm run fleet -- probe --write`), or
 * whose probe refuted the action about to be sent: the first real run finds a wrong assumption
 * before it pays, not after. Only for Hostwinds' own endpoint, or when `required` (a stand-in run
 * that asks for it). Throws a message naming the account's fingerprint and what to run.
 */
export function checkProbed(
  apiKey: string,
  apiUrl: string,
  action: string,
  required: boolean,
  catalog: Catalog = checkedInCatalog(),
): void {
  if (!required) return;
  const id = accountFingerprint(apiKey);
  const probe = catalog.probes?.[id];
  if (!probe)
    throw new Error(
      `Hostwinds account ${id} (${apiUrl}) was never probed, so what this project assumes about its API is unchecked: run ` +
        "`HOSTWINDS_API_KEY=… npm run fleet -- probe --write` and commit providers/hostwinds/catalog.json, then run again. Nothing was bought.",
    );
  const refuted = probe.results.find((r) => r.verdict === "REFUTED" && r.what.includes(`\`${action}\``));
  if (refuted)
    throw new Error(
      `Hostwinds account ${id}: the probe of ${probe.at} refuted "${refuted.what}" (${refuted.evidence}), which ${action} rests on; ` +
        "fix the setting it names (see README, What no public source settles) and probe again. Nothing was bought.",
    );
}
