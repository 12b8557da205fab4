/**
 * A small Cloudflare v4 client for DNS records on the shared HTTP layer
 * (providers/lib/http.ts): Bearer token, Cloudflare's reading of the
 * `{"success","errors","result"}` envelope, one error type carrying
 * Cloudflare's codes; 429 (honouring Retry-After) and 5xx are retried for
 * requests that are safe to repeat. A create whose outcome is unknown ends in
 * OutcomeUnknownError and is settled by the caller listing records, never by
 * posting twice.
 */
import { z } from "zod";
import { Budget, BudgetLimit, CLOUDFLARE_BUDGET, budgetFor, budgetLimitFrom } from "../lib/budget";
import { Failure, HttpAnswer, RetryPolicy, Verdict, call, rateLimiter } from "../lib/http";
import { scrub } from "../lib/secrets";

export const DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4";

export class CloudflareError extends Error {
  override readonly name = "CloudflareError";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly errors: Array<{ code: number; message: string }>,
  ) {
    super(`Cloudflare ${operation}: ${errors.map((e) => `${e.message} (${e.code})`).join("; ") || `HTTP ${status}`}`);
  }
  get notFound(): boolean {
    return this.status === 404 || this.errors.some((e) => e.code === 81044);
  }
}

export const recordSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    name: z.string(),
    content: z.string(),
    ttl: z.number(),
    proxied: z.boolean().optional(),
    priority: z.number().nullish(),
    data: z.record(z.string(), z.unknown()).nullish(),
    /** The owner mark this project writes (dns-record.ts); null when none. */
    comment: z.string().nullish(),
    tags: z.array(z.string()).nullish(),
  })
  .loose();
export type CloudflareRecord = z.infer<typeof recordSchema>;

export interface RecordBody {
  type: string;
  name: string;
  content: string;
  ttl: number;
  proxied: boolean;
  priority?: number;
  data?: Record<string, unknown>;
  comment?: string;
}

export interface CloudflareClientOptions {
  apiToken: string;
  baseUrl?: string;
  /** Attempts per request that is safe to repeat (default 5). */
  maxAttempts?: number;
  /** Client-side rate limit shared by all clients of the same URL in this process (default: none). */
  requestsPerSecond?: number;
  /**
   * The token's budget (providers/lib/budget.ts), shared with every other user of the token
   * (default CLOUDFLARE_BUDGET, under Cloudflare's 1,200 requests / 5 minutes; env CLOUDFLARE_BUDGET
   * "capacity,perSecond" or "off"); null: none.
   */
  budget?: BudgetLimit | null;
}

type Envelope = { success?: boolean; errors?: Array<{ code: number; message: string }>; result?: unknown };

export class CloudflareClient {
  private readonly zoneIds = new Map<string, Promise<string>>();
  private readonly budget?: Budget;
  constructor(private readonly o: CloudflareClientOptions) {
    if (!o.apiToken)
      throw new Error("Cloudflare: no API token. Set `pulumi config set --secret cloudflare:apiToken <token>` or CLOUDFLARE_API_TOKEN");
    const limit =
      o.budget === null ? undefined : (o.budget ?? budgetLimitFrom("CLOUDFLARE_BUDGET", process.env.CLOUDFLARE_BUDGET, CLOUDFLARE_BUDGET));
    if (limit) this.budget = budgetFor("cloudflare", o.apiToken, limit);
  }

  /** The zone's id by its name (cached for the process). */
  zoneId(name: string): Promise<string> {
    let id = this.zoneIds.get(name);
    if (!id) {
      id = this.call(
        "find zone " + name,
        "GET",
        `/zones?name=${encodeURIComponent(name)}`,
        z.array(z.object({ id: z.string(), name: z.string() }).loose()),
      ).then((zones) => {
        const zone = zones.find((x) => x.name === name);
        if (!zone)
          throw new CloudflareError(`find zone ${name}`, 404, [
            { code: 1001, message: `no zone named ${name} for this token; add the zone in Cloudflare or give the token access to it` },
          ]);
        return zone.id;
      });
      id.catch(() => this.zoneIds.delete(name));
      this.zoneIds.set(name, id);
    }
    return id;
  }

  list(zoneId: string, q: { type?: string; name?: string }): Promise<CloudflareRecord[]> {
    const qs = new URLSearchParams(Object.entries(q).filter(([, v]) => v) as Array<[string, string]>);
    return this.call("list records", "GET", `/zones/${zoneId}/dns_records?${qs}`, z.array(recordSchema));
  }

  /**
   * Every zone the token may manage, page by page: the zone list answers at most 50 a page
   * (per_page maximum in Cloudflare's List Zones reference), so a fleet of N zones costs N/50 calls.
   */
  async zones(onPage: () => void = () => undefined): Promise<Array<{ id: string; name: string; name_servers?: string[] }>> {
    // name_servers: the name servers Cloudflare assigns the zone (List Zones reference), for the delegation hint.
    const zone = z.object({ id: z.string(), name: z.string(), name_servers: z.array(z.string()).optional() }).loose();
    return this.allPages(50, (page, perPage) => {
      onPage();
      return this.call(`list zones (page ${page})`, "GET", `/zones?per_page=${perPage}&page=${page}`, z.array(zone));
    });
  }

  /** Every record of a zone, page by page (per_page up to 5,000,000 in the List DNS Records reference; 5,000 here). */
  listAll(zoneId: string, onPage: () => void = () => undefined): Promise<CloudflareRecord[]> {
    return this.allPages(5000, (page, perPage) => {
      onPage();
      return this.call(
        `list records (page ${page})`,
        "GET",
        `/zones/${zoneId}/dns_records?per_page=${perPage}&page=${page}`,
        z.array(recordSchema),
      );
    });
  }

  /** Pages until one comes back short (page numbers start at 1). */
  private async allPages<T>(perPage: number, get: (page: number, perPage: number) => Promise<T[]>): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const items = await get(page, perPage);
      out.push(...items);
      if (items.length < perPage) return out;
    }
  }

  async get(zoneId: string, id: string): Promise<CloudflareRecord | undefined> {
    try {
      return await this.call(`read record ${id}`, "GET", `/zones/${zoneId}/dns_records/${id}`, recordSchema);
    } catch (e) {
      if (e instanceof CloudflareError && e.notFound) return undefined;
      throw e;
    }
  }

  create(zoneId: string, body: RecordBody): Promise<CloudflareRecord> {
    return this.call(`create ${body.type} ${body.name}`, "POST", `/zones/${zoneId}/dns_records`, recordSchema, body);
  }

  update(zoneId: string, id: string, body: RecordBody): Promise<CloudflareRecord> {
    return this.call(`update ${body.type} ${body.name}`, "PUT", `/zones/${zoneId}/dns_records/${id}`, recordSchema, body);
  }

  /** Deletes a record; false when it was already gone. */
  async delete(zoneId: string, id: string): Promise<boolean> {
    try {
      await this.call(`delete record ${id}`, "DELETE", `/zones/${zoneId}/dns_records/${id}`, z.unknown());
      return true;
    } catch (e) {
      if (e instanceof CloudflareError && e.notFound) return false;
      throw e;
    }
  }

  private async call<S extends z.ZodTypeAny>(
    op: string,
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    const baseUrl = this.o.baseUrl ?? DEFAULT_BASE_URL;
    const retry: RetryPolicy = { maxAttempts: this.o.maxAttempts ?? 5, maxRetryMs: 120_000, backoffBaseMs: 250, backoffCapMs: 10_000 };
    const { status, result } = await call({
      api: "Cloudflare",
      operation: op,
      // A POST that may have been processed must not be sent again: the caller lists records to settle it.
      repeatable: method !== "POST",
      limiter: rateLimiter(baseUrl, this.o.requestsPerSecond ?? 0),
      budget: this.budget,
      retry,
      request: () => ({
        method,
        url: `${baseUrl}${path}`,
        headers: { authorization: `Bearer ${this.o.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: 30_000,
      }),
      judge: (a) => this.judge(a),
      fail: (f: Failure, tries: number) => {
        const errors = (f.facts?.errors as Envelope["errors"]) ?? [
          { code: 0, message: `${f.detail}${f.retryable ? ` after ${tries} attempts` : ""}` },
        ];
        return new CloudflareError(op, Number(f.facts?.status ?? 0), errors);
      },
    });
    const r = schema.safeParse(result);
    if (!r.success)
      throw new CloudflareError(op, status, [{ code: 0, message: `unexpected response shape at ${r.error.issues[0].path.join(".")}` }]);
    return r.data;
  }

  /** Cloudflare's reading of an answer: the envelope's `success` and `errors`, 429 and 5xx retryable. */
  private judge(a: HttpAnswer): Verdict<{ status: number; result: unknown }> {
    let env: Envelope;
    try {
      env = JSON.parse(a.text) as Envelope;
    } catch {
      env = { success: false, errors: [{ code: a.status, message: `not JSON (${a.text.length} bytes)` }] };
    }
    if (a.status < 400 && env.success !== false) return { ok: true, value: { status: a.status, result: env.result } };
    const errors = (env.errors ?? []).map((e) => ({ code: e.code, message: scrub(String(e.message), [this.o.apiToken]) }));
    const detail = errors.map((e) => `${e.message} (${e.code})`).join("; ") || `HTTP ${a.status}`;
    const facts = { status: a.status, errors };
    // 429 means not processed; a 5xx may have been processed (a POST then has an unknown outcome).
    if (a.status === 429)
      return { ok: false, detail, retryable: true, mayHaveTakenEffect: false, rateLimited: true, waitMs: a.retryAfterMs, facts };
    if (a.status >= 500) return { ok: false, detail, retryable: true, mayHaveTakenEffect: true, waitMs: a.retryAfterMs, facts };
    return { ok: false, detail, retryable: false, mayHaveTakenEffect: false, facts };
  }
}

/** Credentials and endpoint: stack config `cloudflare:apiToken` / `cloudflare:baseUrl`, or the environment. */
export function cloudflareSettings(
  config: (key: string) => unknown,
  env: NodeJS.ProcessEnv = process.env,
): { apiToken: string; baseUrl: string } {
  const apiToken = String(config("cloudflare:apiToken") ?? env.CLOUDFLARE_API_TOKEN ?? "");
  const baseUrl = String(config("cloudflare:baseUrl") ?? env.CLOUDFLARE_BASE_URL ?? DEFAULT_BASE_URL);
  return { apiToken, baseUrl };
}
