/**
 * SQL for Idempotency-Key on the POSTs that do not create a request (a request keeps its key on
 * its own row, written in the same transaction): the first answer is kept a day and replayed.
 */
import { Queryable } from "../../scripts/lib/postgres/index";

export interface KeptAnswer {
  body_sha256: string;
  status: number;
  response: unknown;
}

export async function keptAnswer(c: Queryable, caller: string, key: string, route: string): Promise<KeptAnswer | undefined> {
  const { rows } = await c.query<KeptAnswer>(
    "select body_sha256, status, response from idempotency_keys where caller = $1 and key = $2 and route = $3",
    [caller, key, route],
  );
  return rows[0];
}

export async function keepAnswer(c: Queryable, caller: string, key: string, route: string, a: KeptAnswer): Promise<void> {
  await c.query(
    `insert into idempotency_keys (caller, key, route, body_sha256, status, response) values ($1, $2, $3, $4, $5, $6)
     on conflict do nothing`,
    [caller, key, route, a.body_sha256, a.status, JSON.stringify(a.response)],
  );
}
