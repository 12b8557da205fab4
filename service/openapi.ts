/**
 * The API's OpenAPI document, generated from the zod schemas that validate every call
 * (./schemas.ts) and type every answer (./views.ts), with zod 4's own JSON Schema output. Served
 * at /openapi.json and checked in as service/openapi.json (`npm run service -- openapi >
 * service/openapi.json && npm run format` after a change; a test checks the two agree).
 */
import { z } from "zod";
import { PROBLEM_CODES, ProblemCode } from "./problems";
import { REQUEST_KINDS } from "./requests";
import * as q from "./schemas";
import * as v from "./views";

interface Operation {
  method: "get" | "post" | "put" | "delete";
  path: string;
  operationId: string;
  summary: string;
  public?: boolean;
  pathParams?: Record<string, z.ZodType>;
  query?: z.ZodObject<z.ZodRawShape>;
  body?: z.ZodType;
  ok: { status: number; description: string; schema?: z.ZodType };
  errors: ProblemCode[];
}

const tenant = { tenant: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/) };
const requestId = { id: z.string().uuid() };
const numericId = { id: z.number().int().min(1) };
const AUTH: ProblemCode[] = ["unauthorized", "rate_limited"];
const BODY: ProblemCode[] = ["invalid_json", "invalid_body", "body_too_large", "unsupported_media_type"];

export const OPERATIONS: Operation[] = [
  {
    method: "get",
    path: "/health",
    operationId: "health",
    summary: "liveness",
    public: true,
    ok: { status: 200, description: "up" },
    errors: [],
  },
  {
    method: "get",
    path: "/ready",
    operationId: "ready",
    summary: "readiness: the database and the queue's workers answer",
    public: true,
    ok: { status: 200, description: "ready", schema: z.object({ ready: z.literal(true) }) },
    errors: ["not_ready"],
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "this document",
    public: true,
    ok: { status: 200, description: "the document" },
    errors: [],
  },
  {
    method: "post",
    path: "/tenants/{tenant}/requests",
    operationId: "submitRequest",
    summary: "submit a request (carried out asynchronously; follow it with GET /requests/{id} or the webhook)",
    pathParams: tenant,
    body: q.submission,
    ok: {
      status: 202,
      description: "recorded and queued (200 with the same request for a repeated Idempotency-Key)",
      schema: v.requestView,
    },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused"],
  },
  {
    method: "get",
    path: "/tenants/{tenant}/requests",
    operationId: "listRequests",
    summary: "the tenant's requests, newest first",
    pathParams: tenant,
    query: q.page(q.requestCursor),
    ok: { status: 200, description: "a page of requests", schema: v.requestPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
  },
  {
    method: "get",
    path: "/requests/{id}",
    operationId: "getRequest",
    summary: "one request, its status history and the IPs it bought or released",
    pathParams: requestId,
    ok: { status: 200, description: "the request", schema: v.requestDetailView },
    errors: [...AUTH, "not_found", "invalid_body"],
  },
  {
    method: "delete",
    path: "/requests/{id}",
    operationId: "cancelRequest",
    summary: "cancel a request not yet purchasing (a pushed commit is reverted)",
    pathParams: requestId,
    ok: { status: 200, description: "cancelled", schema: v.requestView },
    errors: [...AUTH, "not_found", "not_cancellable"],
  },
  {
    method: "get",
    path: "/tenants/{tenant}/ips",
    operationId: "listIps",
    summary: "the tenant's IPs: role, status, PTR, warm-up day, last monitoring result",
    pathParams: tenant,
    query: q.page(q.ipCursor),
    ok: { status: 200, description: "a page of IPs", schema: v.ipPageView },
    errors: [...AUTH, "forbidden", "invalid_query"],
  },
  {
    method: "put",
    path: "/tenants/{tenant}/settings",
    operationId: "saveSettings",
    summary: "opt in or out of the automatic emergency switch (a listed sending IP is paused, its standby takes over)",
    pathParams: tenant,
    body: q.settings,
    ok: { status: 200, description: "saved", schema: v.settingsView },
    errors: [...AUTH, ...BODY, "forbidden"],
  },
  {
    method: "post",
    path: "/usage",
    operationId: "reportUsage",
    summary: "report daily sent volume per IP: all or nothing, the tenant's own IPs, days from 89 days ago to today",
    body: q.usageBatch,
    ok: { status: 200, description: "recorded", schema: v.recordedView },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused"],
  },
  {
    method: "get",
    path: "/unused",
    operationId: "listUnusedIps",
    summary: "IPs held the whole window that sent less than the threshold, with their cost and a suggested release",
    query: q.unusedQuery,
    ok: { status: 200, description: "a page of unused IPs", schema: v.unusedView },
    errors: [...AUTH, "forbidden", "invalid_query"],
  },
  {
    method: "get",
    path: "/reports/cost",
    operationId: "costReport",
    summary: "IP cost by tenant and month, and the part spent on IPs that sent nothing",
    query: q.costQuery,
    ok: { status: 200, description: "a page of rows", schema: v.costView },
    errors: [...AUTH, "forbidden", "invalid_query"],
  },
  {
    method: "get",
    path: "/webhooks/undelivered",
    operationId: "listUndeliveredWebhooks",
    summary: "webhook events not delivered yet (still retrying, or given up after ~4 days)",
    query: q.undeliveredQuery,
    ok: { status: 200, description: "a page of events", schema: v.undeliveredView },
    errors: [...AUTH, "forbidden", "invalid_query"],
  },
  {
    method: "post",
    path: "/webhooks/{id}/redeliver",
    operationId: "redeliverWebhook",
    summary: "send an undelivered event again now",
    pathParams: numericId,
    body: z.object({}).strict(),
    ok: { status: 202, description: "queued (200 when it was delivered already)", schema: v.redeliverView },
    errors: [...AUTH, ...BODY, "not_found", "idempotency_key_reused"],
  },
  {
    method: "get",
    path: "/tokens",
    operationId: "listTokens",
    summary: "tokens within this token's tenants",
    query: q.page(q.idCursor),
    ok: { status: 200, description: "a page of tokens", schema: v.tokenPageView },
    errors: [...AUTH, "invalid_query"],
  },
  {
    method: "post",
    path: "/tokens",
    operationId: "createToken",
    summary: "make a token for tenants this token may act for (the token is shown once)",
    body: q.newToken,
    ok: { status: 201, description: "made", schema: v.newTokenView },
    errors: [...AUTH, ...BODY, "forbidden", "idempotency_key_reused"],
  },
  {
    method: "delete",
    path: "/tokens/{id}",
    operationId: "revokeToken",
    summary: "revoke a token",
    pathParams: numericId,
    ok: { status: 200, description: "revoked", schema: v.tokenView },
    errors: [...AUTH, "not_found"],
  },
];

/** JSON Schema of what a caller sends (`input`) or gets (`output`), without the dialect line. */
function jsonSchema(s: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

const json = (schema: object, type = "application/json") => ({ content: { [type]: { schema } } });

function operation(o: Operation) {
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
    ...(o.body ? { requestBody: { required: true, ...json(jsonSchema(o.body, "input")) } } : {}),
    responses: {
      [o.ok.status]: { description: o.ok.description, ...(o.ok.schema ? json(jsonSchema(o.ok.schema, "output")) : {}) },
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
        `Request kinds: ${REQUEST_KINDS.join(", ")} (the request body is one variant per kind).`,
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
