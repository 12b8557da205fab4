/**
 * The OpenAPI document is generated from the schemas that validate (service/openapi.ts): every
 * route the API serves has one operation with an operationId, typed params per kind (oneOf), an
 * answer schema and problem+json errors; the checked-in service/openapi.json is this document.
 */
import * as fs from "fs";
import * as path from "path";
import { Pool } from "pg";
import { ROUTES, serviceApi } from "../../service/api";
import { OPENAPI, OPERATIONS } from "../../service/openapi";
import { SUBMITTABLE_KINDS } from "../../service/requests";

test("every served route has exactly one operation, and every operation is served", () => {
  serviceApi({} as Pool);
  const served = ROUTES.map((r) => `${r.method} ${r.path.replace(/:([a-z]+)/g, "{$1}")}`).sort();
  const documented = OPERATIONS.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
  expect(documented).toEqual(served);
  const ids = OPERATIONS.map((o) => o.operationId);
  expect(new Set(ids).size).toBe(ids.length);
});

test("the request body is one variant per kind, each with its own params", () => {
  const body = (
    OPENAPI.paths["/tenants/{tenant}/requests"].post as {
      requestBody: { content: Record<string, { schema: { oneOf?: unknown[]; anyOf?: unknown[] } }> };
    }
  ).requestBody.content["application/json"].schema;
  const variants = (body.oneOf ?? body.anyOf) as Array<{ properties: { kind: { const: string }; params: { properties: object } } }>;
  expect(variants.map((v) => v.properties.kind.const).sort()).toEqual([...SUBMITTABLE_KINDS].sort());
  const acquire = variants.find((v) => v.properties.kind.const === "acquire_ips")!;
  expect(Object.keys(acquire.properties.params.properties).sort()).toEqual(["count", "server"]);
});

test("errors are problem+json; query parameters are typed; the checked-in document is this one", () => {
  const unused = OPENAPI.paths["/unused"].get as {
    parameters: Array<{ name: string; schema: { pattern?: string } }>;
    responses: Record<string, { content?: Record<string, unknown> }>;
  };
  expect(unused.parameters.find((p) => p.name === "days")!.schema.pattern).toBeDefined();
  expect(Object.keys(unused.responses["400"].content!)).toEqual(["application/problem+json"]);
  const file = JSON.parse(fs.readFileSync(path.join(__dirname, "../../service/openapi.json"), "utf8"));
  expect(file).toEqual(JSON.parse(JSON.stringify(OPENAPI)));
});
