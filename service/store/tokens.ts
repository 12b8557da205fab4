/** SQL for API tokens: only a token's SHA-256 is kept; a token can expire and be revoked. */
import { Queryable } from "../../scripts/lib/postgres/index";

export interface TokenRow {
  id: string;
  caller: string;
  tenants: string[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  rate_per_minute: number | null;
}

export async function insertToken(
  c: Queryable,
  t: { sha256: string; caller: string; tenants: string[]; expiresAt?: Date; ratePerMinute?: number },
): Promise<TokenRow> {
  const { rows } = await c.query<TokenRow>(
    `insert into api_tokens (token_sha256, caller, tenants, expires_at, rate_per_minute) values ($1, $2, $3, $4, $5)
     returning id, caller, tenants, created_at, expires_at, revoked_at, rate_per_minute`,
    [t.sha256, t.caller, t.tenants, t.expiresAt ?? null, t.ratePerMinute ?? null],
  );
  return rows[0];
}

/** The live token with this hash (not revoked, not expired). */
export async function findLiveToken(c: Queryable, sha256: string): Promise<TokenRow | undefined> {
  const { rows } = await c.query<TokenRow>(
    `select id, caller, tenants, created_at, expires_at, revoked_at, rate_per_minute from api_tokens
      where token_sha256 = $1 and revoked_at is null and (expires_at is null or expires_at > now())`,
    [sha256],
  );
  return rows[0];
}

/** Tokens whose tenants are within `within` ('*' = every token), by id, after the cursor. */
export async function listTokens(c: Queryable, within: string[] | "*", afterId: number | undefined, limit: number): Promise<TokenRow[]> {
  const { rows } = await c.query<TokenRow>(
    `select id, caller, tenants, created_at, expires_at, revoked_at, rate_per_minute from api_tokens
      where ($1::text[] is null or (not ('*' = any(tenants)) and tenants <@ $1::text[]))
        and ($2::bigint is null or id > $2::bigint) order by id limit $3`,
    [within === "*" ? null : within, afterId ?? null, limit],
  );
  return rows;
}

export async function getToken(c: Queryable, id: number): Promise<TokenRow | undefined> {
  const { rows } = await c.query<TokenRow>(
    "select id, caller, tenants, created_at, expires_at, revoked_at, rate_per_minute from api_tokens where id = $1",
    [id],
  );
  return rows[0];
}

export async function revokeToken(c: Queryable, id: number): Promise<void> {
  await c.query("update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1", [id]);
}
