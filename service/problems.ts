/**
 * Every error the API answers is an RFC 9457 problem document (`application/problem+json`) with
 * a stable machine `code` (the `type` is `urn:penguinmails:problem:<code>`); `errors` names each
 * field that is wrong. The codes are the contract: the prose may change, a code does not.
 */
import { z } from "zod";

export const PROBLEM_CODES = {
  invalid_json: 400,
  invalid_body: 400,
  invalid_query: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_cancellable: 409,
  idempotency_in_progress: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  domain_in_use: 409,
  tenant_exists: 409,
  tenant_busy: 409,
  zone_not_on_account: 422,
  not_registrable: 422,
  unknown_domain: 422,
  mailbox_exists: 409,
  over_tier_limit: 422,
  rate_limited: 429,
  internal: 500,
  not_ready: 503,
} as const;
export type ProblemCode = keyof typeof PROBLEM_CODES;

const TITLES: Record<ProblemCode, string> = {
  invalid_json: "The body is not JSON",
  invalid_body: "The body is not valid",
  invalid_query: "A query parameter is not valid",
  unauthorized: "No valid bearer token",
  forbidden: "This token may not do that",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  not_cancellable: "The request can no longer be cancelled",
  idempotency_in_progress: "A request with this Idempotency-Key is still being handled",
  body_too_large: "The body is too large",
  unsupported_media_type: "The body must be application/json",
  idempotency_key_reused: "This Idempotency-Key was used with another body",
  domain_in_use: "The domain is a sending domain of another tenant",
  tenant_exists: "The tenant exists with another config",
  tenant_busy: "The tenant has open requests",
  zone_not_on_account: "No zone the Cloudflare token can see holds the domain",
  not_registrable: "Not a registrable domain",
  unknown_domain: "The tenant has no such domain",
  mailbox_exists: "The mailbox exists",
  over_tier_limit: "Over the tier's limit",
  rate_limited: "Too many requests",
  internal: "Internal error",
  not_ready: "Not ready",
};

export interface FieldError {
  /** Where: `query.days`, `body.records.3.day`, `header.idempotency-key`. */
  field: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail: string;
  errors?: FieldError[];
}

export function problem(code: ProblemCode, detail: string, errors?: FieldError[]): Problem {
  return {
    type: `urn:penguinmails:problem:${code}`,
    title: TITLES[code],
    status: PROBLEM_CODES[code],
    code,
    detail,
    ...(errors?.length ? { errors } : {}),
  };
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), { status: p.status, headers: { "content-type": "application/problem+json", ...headers } });
}

/** A problem the route handlers throw; the app's error handler answers it. */
export class ProblemError extends Error {
  constructor(
    readonly problem: Problem,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.detail);
  }
}

export function fail(code: ProblemCode, detail: string, errors?: FieldError[], headers?: Record<string, string>): never {
  throw new ProblemError(problem(code, detail, errors), headers);
}

/** The field errors of a zod error, each under `where` (query, body, …). */
export function fieldErrors(where: string, e: z.ZodError): FieldError[] {
  return e.issues.map((i) => ({ field: [where, ...i.path.map(String)].join("."), message: i.message }));
}

/** Parses `value` with `schema` or throws the 400 naming each wrong field. */
export function checked<S extends z.ZodTypeAny>(where: "query" | "body" | "params", schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const errors = fieldErrors(where, r.error);
  return fail(where === "query" ? "invalid_query" : "invalid_body", errors.map((x) => `${x.field}: ${x.message}`).join("; "), errors);
}

/**
 * A text a caller (or the engine) wrote, made safe to show or to put on one line of a commit
 * message: every control character, line or paragraph separator and other invisible format
 * character becomes a space, and absolute server paths become their last part.
 */
export function oneLine(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/g, " ");
  return flat.replace(/ {2,}/g, " ").trim().slice(0, max);
}

/** `failureReason` as the platform sees it: no paths of this server (a path keeps its file name). */
export function withoutServerPaths(s: string): string {
  return s.replace(/(?:file:\/\/)?(?:\/[\w.@+~-]+){2,}\/?/g, (p) => {
    const last = p.replace(/\/$/, "").split("/").pop() ?? "";
    return last.includes(".") ? last : "<path>";
  });
}
