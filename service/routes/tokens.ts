/** Tokens within the caller's tenants: list, make (shown once), revoke. */
import { AUTH, BODY, Route, intPath, jsonBody, may, numericIdParam, once, paged } from "../http";
import { checked, fail } from "../problems";
import { getToken, listTokens, revokeToken } from "../store/tokens";
import { makeToken, publicToken } from "../tokens";
import * as q from "../schemas";
import * as v from "../views";

export const TOKEN_ROUTES: Route[] = [
  {
    method: "get",
    path: "/tokens",
    operationId: "listTokens",
    summary: "tokens within this token's tenants",
    query: q.page(q.idCursor),
    ok: { status: 200, description: "a page of tokens", schema: v.tokenPageView },
    errors: [...AUTH, "invalid_query"],
    handler: async (c, { pool }) => {
      const query = checked("query", q.page(q.idCursor), c.req.query());
      const rows = await listTokens(pool, c.get("caller").tenants, query.cursor?.id, query.limit + 1);
      const { page, nextCursor } = paged(rows, query.limit, (last) => ({ id: Number(last.id) }));
      return c.json({ tokens: page.map(publicToken), nextCursor });
    },
  },
  {
    method: "post",
    path: "/tokens",
    operationId: "createToken",
    summary: "make a token for tenants this token may act for (the token is shown once)",
    body: q.newToken,
    ok: { status: 201, description: "made", schema: v.newTokenView },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused"],
    handler: async (c, { pool }) => {
      const body = checked("body", q.newToken, await jsonBody(c));
      const caller = c.get("caller");
      const tenants = body.tenants;
      if (caller.tenants !== "*" && (tenants === "*" || tenants.some((t) => !may(caller, t))))
        fail("forbidden", "a token can only be made for tenants this token may act for");
      return once(c, pool, body, async () => {
        const expiresAt = body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86_400_000) : undefined;
        const { token, row } = await makeToken(pool, body.caller, tenants, { expiresAt, ratePerMinute: body.ratePerMinute });
        return { status: 201, body: { ...publicToken(row), token } };
      });
    },
  },
  {
    method: "delete",
    path: "/tokens/{id}",
    operationId: "revokeToken",
    summary: "revoke a token",
    pathParams: numericIdParam,
    ok: { status: 200, description: "revoked", schema: v.tokenView },
    errors: [...AUTH, "not_found"],
    handler: async (c, { pool }) => {
      const id = intPath(c, "id");
      const row = await getToken(pool, id);
      const caller = c.get("caller");
      const visible = row && (caller.tenants === "*" || (!row.tenants.includes("*") && row.tenants.every((t) => may(caller, t))));
      if (!visible) fail("not_found", `no token ${id}`);
      await revokeToken(pool, id);
      return c.json(publicToken((await getToken(pool, id))!));
    },
  },
];
