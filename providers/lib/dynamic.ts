/** Small helpers every dynamic resource implementation here uses. */

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

/** Inputs without the engine's own `__provider` field. */
export function withoutProvider(o: Record<string, unknown>): Record<string, unknown> {
  const { __provider: _ignored, ...rest } = o;
  return rest;
}
