/**
 * The API's OpenAPI document, served at /openapi.json and checked in as
 * service/openapi.json (`npm run service -- openapi > service/openapi.json`
 * after a change; a test checks that the served one equals the checked-in one).
 */
import { REQUEST_KINDS, STATUSES } from "./requests";

const json = (schema: object) => ({ content: { "application/json": { schema } } });
const error = { description: "what is wrong", ...json({ $ref: "#/components/schemas/Error" }) };
const tenantParam = { name: "tenant", in: "path", required: true, schema: { type: "string" } };
const auth = { 401: error, 403: error };

export const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "penguinmails provisioning service",
    version: "1",
    description:
      "Ask for sending IPs and servers per tenant and follow each request through its lifecycle " +
      "(requested → confirmed → purchasing → assigned; releasing → released; rejected; failed). " +
      "Bearer tokens are per caller and list the tenants they may act for.",
  },
  security: [{ bearer: [] }],
  paths: {
    "/health": { get: { security: [], summary: "liveness", responses: { 200: { description: "up" } } } },
    "/openapi.json": { get: { security: [], summary: "this document", responses: { 200: { description: "the document" } } } },
    "/tenants/{tenant}/requests": {
      post: {
        summary: "submit a request (carried out asynchronously; follow it with GET /requests/{id} or the webhook)",
        parameters: [tenantParam],
        requestBody: { required: true, ...json({ $ref: "#/components/schemas/Submission" }) },
        responses: { 202: { description: "recorded and queued", ...json({ $ref: "#/components/schemas/Request" }) }, 400: error, ...auth },
      },
      get: {
        summary: "the tenant's latest 200 requests",
        parameters: [tenantParam],
        responses: {
          200: {
            description: "requests",
            ...json({ type: "object", properties: { requests: { type: "array", items: { $ref: "#/components/schemas/Request" } } } }),
          },
          ...auth,
        },
      },
    },
    "/requests/{id}": {
      get: {
        summary: "one request, its status history and the IPs it bought or released",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } }],
        responses: { 200: { description: "the request", ...json({ $ref: "#/components/schemas/Request" }) }, 401: error, 404: error },
      },
    },
    "/tenants/{tenant}/ips": {
      get: {
        summary: "the tenant's IPs: role, status, PTR, warm-up day, last monitoring result",
        parameters: [tenantParam],
        responses: {
          200: {
            description: "IPs",
            ...json({ type: "object", properties: { ips: { type: "array", items: { $ref: "#/components/schemas/Ip" } } } }),
          },
          ...auth,
        },
      },
    },
    "/tenants/{tenant}/settings": {
      put: {
        summary: "opt in or out of the automatic emergency switch (a listed sending IP is paused, its standby takes over)",
        parameters: [tenantParam],
        requestBody: {
          required: true,
          ...json({ type: "object", required: ["autoEmergencySwitch"], properties: { autoEmergencySwitch: { type: "boolean" } } }),
        },
        responses: { 200: { description: "saved" }, 400: error, ...auth },
      },
    },
    "/usage": {
      post: {
        summary: "report daily sent volume per IP (kept 90 days; a repeated day replaces the earlier figure)",
        requestBody: {
          required: true,
          ...json({
            type: "object",
            required: ["records"],
            properties: {
              records: {
                type: "array",
                items: {
                  type: "object",
                  required: ["tenant", "ip", "day", "sent"],
                  properties: {
                    tenant: { type: "string" },
                    ip: { type: "string" },
                    day: { type: "string", format: "date" },
                    sent: { type: "integer", minimum: 0 },
                  },
                },
              },
            },
          }),
        },
        responses: { 200: { description: "recorded" }, 400: error, ...auth },
      },
    },
    "/unused": {
      get: {
        summary: "assigned IPs held the whole window that sent less than the threshold, with their cost and a suggested release",
        parameters: [
          { name: "tenant", in: "query", schema: { type: "string" } },
          { name: "days", in: "query", schema: { type: "integer", default: 14 } },
          { name: "belowDailyAverage", in: "query", schema: { type: "number", default: 1 } },
        ],
        responses: { 200: { description: "unused IPs and the monthly saving of releasing them" }, ...auth },
      },
    },
    "/reports/cost": {
      get: {
        summary: "IP cost by tenant and month, and the part spent on IPs that sent nothing",
        parameters: [
          { name: "tenant", in: "query", schema: { type: "string" } },
          { name: "months", in: "query", schema: { type: "integer", default: 6 } },
        ],
        responses: { 200: { description: "rows of tenant, month, ips, ipCostUsd, idleIps, idleCostUsd" }, ...auth },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    schemas: {
      Error: { type: "object", required: ["error"], properties: { error: { type: "string" } } },
      Submission: {
        type: "object",
        required: ["kind"],
        properties: {
          kind: { type: "string", enum: REQUEST_KINDS },
          params: {
            type: "object",
            description:
              "acquire_ips {server, count}; add_server {name, location, plan, billingCycle?, sendingIps, standbyIps?}; " +
              "release_ip {ip} (the last slot of its server); retire_ip {ip}; pause_ip {ip} (needs a free standby); add_standby {server, count?}",
          },
          requester: { type: "string", description: "who on the platform asked; default the token's caller" },
        },
      },
      Request: {
        type: "object",
        properties: {
          id: { type: "string", format: "uuid" },
          tenant: { type: "string" },
          requester: { type: "string" },
          kind: { type: "string", enum: REQUEST_KINDS },
          params: { type: "object" },
          status: { type: "string", enum: STATUSES },
          hostwinds: { type: ["object", "null"], description: "server, location, plan, billingCycle" },
          domain: { type: ["string", "null"] },
          commit: { type: ["string", "null"], description: "the config repository commit that made the change" },
          failureReason: { type: ["string", "null"] },
          result: { type: ["object", "null"], description: "bought [{ip, ptr, warmup…}], released [ip], monthlyCostUsd" },
          timestamps: { type: "object", additionalProperties: { type: ["string", "null"], format: "date-time" } },
        },
      },
      Ip: {
        type: "object",
        properties: {
          ip: { type: "string" },
          server: { type: "string" },
          role: { type: "string", enum: ["sending", "standby", "paused"] },
          status: { type: "string", enum: ["assigned", "released"] },
          ptr: { type: "string" },
          since: { type: ["string", "null"], format: "date-time" },
          monthlyUsd: { type: "number" },
          warmup: {
            type: "object",
            properties: { day: { type: ["integer", "null"] }, maxMessages: { type: ["integer", "null"] }, warmedUp: { type: "boolean" } },
          },
          lastCheck: { type: ["object", "null"], description: "blocklist verdict and details of the last monitoring pass" },
        },
      },
    },
  },
};
