/** Small helpers every dynamic resource implementation here uses. */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/** The value the engine sends for an input that is not known yet (preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const isUnknown = (v: unknown): boolean => v === UNKNOWN;

/**
 * `check` for a dynamic resource: validates the engine's inputs against the
 * schema, skipping its own `__provider` field. Unknown values are left as
 * they are (checked again when known); each failure names the resource, the
 * field and the reason.
 */
export function checkInputs<S extends z.ZodObject>(schema: S, resource: string, news: object): pulumi.dynamic.CheckResult<z.infer<S>> {
  const known: Record<string, unknown> = {};
  const unknown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(news)) {
    if (k === "__provider") continue;
    (isUnknown(v) ? unknown : known)[k] = v;
  }
  const partial = Object.keys(unknown).length
    ? schema.partial(Object.fromEntries(Object.keys(unknown).map((k) => [k, true])) as never)
    : schema;
  const extra = Object.keys(known).filter((k) => !(k in schema.shape));
  const parsed = partial.safeParse(known);
  const failures: pulumi.dynamic.CheckFailure[] = extra.map((k) => ({
    property: k,
    reason: `${resource}: ${k} is not a known input (known: ${Object.keys(schema.shape).join(", ")})`,
  }));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const property = issue.path.join(".") || "(inputs)";
      failures.push({ property, reason: `${resource}: ${property} ${issue.message}` });
    }
  }
  if (failures.length) return { failures };
  // Unknown fields pass through as the engine's marker; the engine checks again once they are known.
  return { inputs: { ...(parsed.data as object), ...unknown } as z.infer<S> };
}

/**
 * An error for "it exists but did not come up right". The Node dynamic-provider
 * server turns an error carrying `id` into Pulumi's ErrorResourceInitFailed, so
 * the engine keeps the resource (and its id) in state instead of forgetting a
 * thing that was paid for; the next `up` updates it.
 */
export function createdButFailed(id: string, properties: Record<string, unknown>, message: string): Error {
  return Object.assign(new Error(message), { id, properties: compact(properties), reasons: [message] });
}

/** Drops undefined fields: protobuf structs cannot carry them. */
export function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
