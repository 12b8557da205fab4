/** The routes that answer without a token: liveness, readiness, the OpenAPI document. */
import { z } from "zod";
import { databaseProblem } from "../../scripts/lib/postgres/index";
import { Route } from "../http";
import { problem, problemResponse } from "../problems";

export const PUBLIC_ROUTES: Route[] = [
  {
    method: "get",
    path: "/health",
    operationId: "health",
    summary: "liveness",
    public: true,
    ok: { status: 200, description: "up", schema: z.object({ ok: z.literal(true) }) },
    errors: [],
    handler: (c) => c.json({ ok: true }),
  },
  {
    method: "get",
    path: "/ready",
    operationId: "ready",
    summary: "readiness: the database and the queue's workers answer",
    public: true,
    ok: { status: 200, description: "ready", schema: z.object({ ready: z.literal(true) }) },
    errors: ["not_ready"],
    handler: async (c, { pool, options }) => {
      const problems = options.notReady ? await options.notReady() : [await databaseProblem(pool)].filter((p): p is string => !!p);
      if (problems.length) return problemResponse(problem("not_ready", problems.join("; ")), { "retry-after": "5" });
      return c.json({ ready: true });
    },
  },
  {
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "this document",
    public: true,
    ok: { status: 200, description: "the document" },
    errors: [],
    handler: (c, { openapi }) => c.json(openapi),
  },
];
