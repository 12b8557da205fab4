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
import { SUBMITTABLE_KINDS, judgeTenant } from "../../service/requests";
import { EXAMPLES } from "../../service/examples";

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

test("every route with a body or a JSON answer has an example of each, valid by the schema that checks the call and types the answer", () => {
  const bad: string[] = [];
  for (const o of OPERATIONS) {
    const ex = EXAMPLES[o.operationId];
    if (o.body) {
      if (ex?.request === undefined) bad.push(`${o.operationId}: no request example`);
      else {
        const r = o.body.safeParse(ex.request);
        if (!r.success) bad.push(`${o.operationId}: request example: ${r.error.message}`);
      }
    }
    if (o.ok.schema && !o.ok.contentType) {
      if (ex?.response === undefined) bad.push(`${o.operationId}: no answer example`);
      else {
        const r = o.ok.schema.safeParse(ex.response);
        if (!r.success) bad.push(`${o.operationId}: answer example: ${r.error.message}`);
      }
    }
  }
  expect(bad).toEqual([]);
  // No example for an operation that is not there (a renamed operationId would leave one behind).
  const ids = new Set(OPERATIONS.map((o) => o.operationId));
  expect(Object.keys(EXAMPLES).filter((id) => !ids.has(id))).toEqual([]);
  // The onboarding example is a tenant config a preview accepts, and it is in the document.
  expect(() => judgeTenant("acme", EXAMPLES.onboardTenant.request as Record<string, unknown>)).not.toThrow();
  const onboard = OPENAPI.paths["/tenants"].post as { requestBody: { content: Record<string, { example?: unknown }> } };
  expect(onboard.requestBody.content["application/json"].example).toEqual(EXAMPLES.onboardTenant.request);
});
