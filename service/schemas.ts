/**
 * The zod schemas of what the API takes: bodies, query parameters, cursors. They validate every
 * call and are what the OpenAPI document describes. Written to be valid in zod 3 and zod 4.
 */
import { z } from "zod";
import { SLUG } from "../providers/model/names";
import { SUBMITTABLE_KINDS, requestBodies } from "./requests";
import { badUsageDay, usageRecord } from "./store/usage";

/** A whole number in [min, max] given as query text: `1.5`, `1e10`, `-1`, `abc` and `` are all refused. */
export const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

/** A decimal number in [min, max] given as query text (digits, an optional fraction). */
export const decimal = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}(\.\d{1,6})?$/, `expected a number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

export const idParam = wholeNumber(1, 999_999_999);

export const encodeCursor = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** A cursor as the previous page gave it (opaque to callers), decoded and checked against `shape`. */
export function cursor<S extends z.ZodTypeAny>(shape: S) {
  return z
    .string()
    .max(1000)
    .transform((s, ctx) => {
      try {
        const v = shape.safeParse(JSON.parse(Buffer.from(s, "base64url").toString("utf8")));
        if (v.success) return v.data as z.infer<S>;
      } catch {
        // falls through to the issue
      }
      ctx.addIssue({ code: "custom", message: "not a cursor this list gave" });
      return z.NEVER;
    });
}

export const requestCursor = z.object({ at: z.string().datetime({ offset: true }), id: z.string().uuid() }).strict();
export const ipCursor = z.object({ server: z.string(), role: z.string(), slot: z.number().int(), ip: z.string() }).strict();
export const idCursor = z.object({ id: z.number().int().min(0) }).strict();
const tenantIpCursor = z.object({ tenant: z.string(), ip: z.string() }).strict();
const costCursor = z.object({ tenant: z.string(), month: z.string() }).strict();

const limit = wholeNumber(1, 500);
const tenant = z.string().regex(SLUG, "not a tenant id");

/** `?cursor=&limit=` of a list (limit default 100). */
export const page = <S extends z.ZodTypeAny>(c: S) =>
  z.object({ cursor: cursor(c).optional(), limit: limit.optional().transform((v) => v ?? 100) }).strict();

export const unusedQuery = z
  .object({
    tenant: tenant.optional(),
    days: wholeNumber(1, 90).optional(),
    belowDailyAverage: decimal(0, 1_000_000).optional(),
    cursor: cursor(tenantIpCursor).optional(),
    limit: limit.optional().transform((v) => v ?? 100),
  })
  .strict();

export const costQuery = z
  .object({
    tenant: tenant.optional(),
    months: wholeNumber(1, 36)
      .optional()
      .transform((v) => v ?? 6),
    cursor: cursor(costCursor).optional(),
    limit: limit.optional().transform((v) => v ?? 100),
    /** csv: one line per tenant of the scope (this month, projection, next month) and a fleet line. */
    format: z.enum(["json", "csv"], { error: () => "expected json or csv" }).optional(),
  })
  .strict();

export const incidentQuery = z
  .object({
    tenant: tenant.optional(),
    status: z.enum(["open", "resolved"], { error: () => "expected open or resolved" }).optional(),
    cursor: cursor(idCursor).optional(),
    limit: limit.optional().transform((v) => v ?? 100),
  })
  .strict();

export const undeliveredQuery = z
  .object({ tenant: tenant.optional(), cursor: cursor(idCursor).optional(), limit: limit.optional().transform((v) => v ?? 100) })
  .strict();

/** Printable ASCII, 1–200 characters (an IETF Idempotency-Key draft's key is a string; ours is kept simple). */
export const idempotencyKey = z.string().regex(/^[\x21-\x7e]{1,200}$/, "Idempotency-Key: 1 to 200 printable ASCII characters");

/** One line of text: no control characters, line or paragraph separators, or invisible format characters. */
export const oneLineText = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]+$/u, "must be one line of text (no control characters or line separators)");

/** A request: one variant per kind, each with its own `params` (the OpenAPI document's oneOf). */
const submissionVariants = SUBMITTABLE_KINDS.map((kind) =>
  z
    .object({
      kind: z.literal(kind),
      params: requestBodies[kind] as z.ZodTypeAny,
      /** Who on the platform asked (a user, a job); the caller's name when absent. */
      requester: oneLineText.optional(),
    })
    .strict(),
);
export const submission = z.discriminatedUnion(
  "kind",
  submissionVariants as unknown as [(typeof submissionVariants)[number], ...(typeof submissionVariants)[number][]],
);

export const settings = z
  .object({
    autoEmergencySwitch: z.boolean(),
    /** The automatic switch also fires when a sending IP's reputation score falls below this; null: on a listing only. */
    switchBelowScore: z
      .number("expected a reputation score from 0 to 100")
      .int("expected a whole reputation score from 0 to 100")
      .min(0, "expected a reputation score from 0 to 100")
      .max(100, "expected a reputation score from 0 to 100")
      .nullable()
      .optional(),
  })
  .strict();

export const usageBatch = z
  .object({ records: z.array(usageRecord).min(1).max(10_000) })
  .strict()
  .superRefine((b, ctx) => {
    const seen = new Map<string, number>();
    const days = new Map<string, string | undefined>();
    b.records.forEach((r, i) => {
      if (!days.has(r.day)) days.set(r.day, badUsageDay(r.day));
      const bad = days.get(r.day);
      if (bad) ctx.addIssue({ code: "custom", path: ["records", i, "day"], message: bad });
      const k = `${r.tenant} ${r.ip} ${r.day}`;
      if (seen.has(k))
        ctx.addIssue({ code: "custom", path: ["records", i], message: `the same tenant, IP and day as record ${seen.get(k)}` });
      else seen.set(k, i);
    });
  });

/** Who acknowledges (the caller's name when absent). */
export const acknowledgement = z.object({ by: oneLineText.optional() }).strict();

export const newToken = z
  .object({
    caller: oneLineText,
    tenants: z.union([z.literal("*"), z.array(tenant).min(1).max(1000)]),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
    ratePerMinute: z.number().int().min(1).max(100_000).optional(),
  })
  .strict();
