/**
 * The one way a route submits a request: the canonical body hash (tenant, kind, params,
 * requester), recorded once per Idempotency-Key (../lifecycle.ts submitOnce), 422 when the key
 * came with another body, 202 for a new request and 200 with the same one for a repeated key.
 */
import { C, idempotencyKey, sha256 } from "../http";
import { publicRequest, submitOnce } from "../lifecycle";
import { fail } from "../problems";
import type { RouteDeps } from "../http";
import type { RequestKind } from "../requests";

export async function submitRequest(c: C, deps: Pick<RouteDeps, "pool">, kind: RequestKind, params: unknown, requester?: string) {
  const tenant = c.req.param("tenant")!;
  const key = idempotencyKey(c);
  const caller = c.get("caller").caller;
  const canonical = sha256(JSON.stringify({ tenant, kind, params, requester: requester ?? null }));
  const { row, created } = await submitOnce(deps.pool, {
    tenant,
    requester: requester ?? caller,
    kind,
    params,
    caller,
    idempotencyKey: key,
    bodySha256: canonical,
  });
  if (!created && row.body_sha256 !== canonical)
    fail("idempotency_key_reused", `Idempotency-Key ${key} was used with another body (request ${row.id})`);
  return c.json(publicRequest(row), created ? 202 : 200);
}
