/** Tokens: made for a caller and the tenants it may act for, shown once, kept as SHA-256 hashes. */
import { randomBytes } from "crypto";
import { Pool } from "pg";
import { sha256 } from "./http";
import { insertToken, TokenRow } from "./store/tokens";

/** Makes a token for a caller and its tenants; the token is shown once, only its hash is kept. */
export async function createToken(
  pool: Pool,
  caller: string,
  tenants: string[] | "*",
  o: { expiresAt?: Date; ratePerMinute?: number } = {},
): Promise<string> {
  return (await makeToken(pool, caller, tenants, o)).token;
}

export async function makeToken(pool: Pool, caller: string, tenants: string[] | "*", o: { expiresAt?: Date; ratePerMinute?: number }) {
  const token = `pmt_${randomBytes(24).toString("base64url")}`;
  const row = await insertToken(pool, { sha256: sha256(token), caller, tenants: tenants === "*" ? ["*"] : tenants, ...o });
  return { token, row };
}

export const publicToken = (t: TokenRow) => ({
  id: Number(t.id),
  caller: t.caller,
  tenants: t.tenants,
  createdAt: new Date(t.created_at).toISOString(),
  expiresAt: t.expires_at ? new Date(t.expires_at).toISOString() : null,
  revokedAt: t.revoked_at ? new Date(t.revoked_at).toISOString() : null,
  ratePerMinute: t.rate_per_minute,
});
