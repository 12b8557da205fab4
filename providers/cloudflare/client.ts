/**
 * A small Cloudflare v4 client for DNS records: Bearer token, the
 * `{"success","errors","result"}` envelope, one error type carrying
 * Cloudflare's codes, retries on 429 (honouring Retry-After) and 5xx for
 * requests that are safe to repeat. A create whose answer was lost is settled
 * by the caller listing records, never by posting twice.
 */
import { Agent, request } from "undici";
import { z } from "zod";
import { backoffMs, retryAfterMs } from "../lib/retry";

export const DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4";

export class CloudflareError extends Error {
  override readonly name = "CloudflareError";
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly errors: Array<{ code: number; message: string }>,
    readonly mayHaveHappened = false,
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
    data: z.record(z.unknown()).nullish(),
  })
  .passthrough();
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

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CloudflareClient {
  private readonly zoneIds = new Map<string, Promise<string>>();
  constructor(private readonly o: { apiToken: string; baseUrl?: string; maxAttempts?: number }) {
    if (!o.apiToken)
      throw new Error("Cloudflare: no API token. Set `pulumi config set --secret cloudflare:apiToken <token>` or CLOUDFLARE_API_TOKEN");
  }

  /** The zone's id by its name (cached for the process). */
  zoneId(name: string): Promise<string> {
    let id = this.zoneIds.get(name);
    if (!id) {
      id = this.call(
        "find zone " + name,
        "GET",
        `/zones?name=${encodeURIComponent(name)}`,
        z.array(z.object({ id: z.string(), name: z.string() }).passthrough()),
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

  private async call<S extends z.ZodTypeAny>(op: string, method: string, path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    const repeatable = method !== "POST";
    const attempts = this.o.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      let status: number;
      let parsed: { success?: boolean; errors?: Array<{ code: number; message: string }>; result?: unknown };
      let retryAfter: number | undefined;
      try {
        const res = await request(`${this.o.baseUrl ?? DEFAULT_BASE_URL}${path}`, {
          method: method as "GET",
          dispatcher: agent,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
          headers: { authorization: `Bearer ${this.o.apiToken}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        status = res.statusCode;
        retryAfter = retryAfterMs(res.headers["retry-after"]);
        const text = await res.body.text();
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = { success: false, errors: [{ code: status, message: `not JSON (${text.length} bytes)` }] };
        }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "network";
        if (!repeatable && code !== "ECONNREFUSED")
          throw new CloudflareError(op, 0, [{ code: 0, message: `network error (${code})` }], true);
        if (attempt >= attempts)
          throw new CloudflareError(op, 0, [{ code: 0, message: `network error (${code}) after ${attempt} attempts` }]);
        await sleep(backoffMs(attempt, 250, 10_000));
        continue;
      }
      if (status < 400 && parsed.success !== false) {
        const r = schema.safeParse(parsed.result);
        if (!r.success)
          throw new CloudflareError(op, status, [{ code: 0, message: `unexpected response shape at ${r.error.issues[0].path.join(".")}` }]);
        return r.data;
      }
      const errors = parsed.errors ?? [];
      // 429 means not processed; a 5xx answer to a POST may have created the record.
      const retry = status === 429 || (status >= 500 && repeatable);
      if (status >= 500 && !repeatable) throw new CloudflareError(op, status, errors, true);
      if (!retry || attempt >= attempts) throw new CloudflareError(op, status, errors);
      await sleep(Math.max(retryAfter ?? 0, backoffMs(attempt, 250, 10_000)));
    }
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
