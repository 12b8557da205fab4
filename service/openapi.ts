/**
 * The API's OpenAPI document, generated from the zod schemas that validate every call
 * (./schemas.ts) and type every answer (./views.ts), with zod 4's own JSON Schema output. Served
 * at /openapi.json and checked in as service/openapi.json (`npm run service -- openapi >
 * service/openapi.json && npm run format` after a change; a test checks the two agree).
 */
import { z } from "zod";
import { PROBLEM_CODES } from "./problems";
import { SUBMITTABLE_KINDS } from "./requests";
import * as q from "./schemas";
import * as v from "./views";
import { Route } from "./http";
import { ALL_ROUTES } from "./routes/index";
import { EXAMPLES } from "./examples";

/** Every operation: the routes themselves (./routes/), each declared beside its handler. */
export const OPERATIONS: Route[] = ALL_ROUTES;

/** JSON Schema of what a caller sends (`input`) or gets (`output`), without the dialect line. */
function jsonSchema(s: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

const json = (schema: object, type = "application/json", example?: unknown) => ({
  content: { [type]: { schema, ...(example === undefined ? {} : { example }) } },
});

function operation(o: Route) {
  const parameters = [
    ...Object.entries(o.pathParams ?? {}).map(([name, s]) => ({ name, in: "path", required: true, schema: jsonSchema(s, "input") })),
    ...Object.entries(o.query?.shape ?? {}).map(([name, s]) => ({
      name,
      in: "query",
      required: !(s as z.ZodType).safeParse(undefined).success,
      schema: jsonSchema(s as z.ZodType, "input"),
    })),
    ...(o.method === "post"
      ? [
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            schema: jsonSchema(q.idempotencyKey, "input"),
            description: "same key and body: the first answer again; same key, other body: 422",
          },
        ]
      : []),
  ];
  const errors: Record<string, unknown> = {};
  for (const code of o.errors) {
    const status = String(PROBLEM_CODES[code]);
    const e = (errors[status] ??= { description: "", ...json({ $ref: "#/components/schemas/Problem" }, "application/problem+json") }) as {
      description: string;
    };
    e.description = e.description ? `${e.description}, ${code}` : code;
  }
  return {
    operationId: o.operationId,
    summary: o.summary,
    ...(o.public ? { security: [] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(o.body
      ? { requestBody: { required: true, ...json(jsonSchema(o.body, "input"), undefined, EXAMPLES[o.operationId]?.request) } }
      : {}),
    responses: {
      [o.ok.status]: {
        description: o.ok.description,
        ...(o.ok.schema
          ? json(jsonSchema(o.ok.schema, "output"), o.ok.contentType, EXAMPLES[o.operationId]?.response)
          : o.ok.contentType
            ? { content: { [o.ok.contentType]: {} } }
            : {}),
      },
      ...errors,
    },
  };
}

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const o of OPERATIONS) (paths[o.path] ??= {})[o.method] = operation(o);
  return {
    openapi: "3.1.0",
    info: {
      title: "penguinmails provisioning service",
      version: "2",
      description:
        "Ask for sending IPs and servers per tenant and follow each request through its lifecycle " +
        "(requested → confirmed → purchasing → assigned; releasing → released; rejected; failed; cancelled). " +
        "Bearer tokens are per caller and list the tenants they may act for. Every error is RFC 9457 problem+json " +
        "with a stable `code`; every list is paged by `cursor`; every POST takes `Idempotency-Key`. " +
        `Request kinds: ${SUBMITTABLE_KINDS.join(", ")} (the request body is one variant per kind); ` +
        "onboarding and offboarding are requests too (create_tenant, delete_tenant), made on /tenants; domains on /tenants/{tenant}/domains.",
    },
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { Problem: jsonSchema(v.problemView, "output") },
    },
  };
}

export const OPENAPI = openApiDocument();
