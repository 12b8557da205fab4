/**
 * A Hostwinds Cloud API client: typed actions, one error type, retries with
 * exponential backoff and full jitter (honouring Retry-After), a client-side
 * rate limit shared by every client in the process, request timeouts,
 * keep-alive connections, and polling for asynchronous work.
 *
 * Retries are written here rather than with undici's RetryAgent because
 * Hostwinds reports errors with HTTP 200 and an error body, which only this
 * layer can read. Purchases are never re-sent once the request may have
 * reached Hostwinds: the error says the outcome is unknown and the caller
 * settles it by reading (see `outcomeUnknown`).
 */
import { Agent, request } from "undici";
import { backoffMs, retryAfterMs } from "../lib/retry";
import { HostwindsError, redact } from "./errors";
import {
  DEFAULT_API_URL,
  FormValue,
  INVALID_SERVICE_ID,
  Instance,
  InstanceIp,
  LIST_SSH_KEYS_ACTION,
  Location,
  Parsed,
  Plan,
  SECONDARY_IP_PURCHASE,
  encodeForm,
  instanceIpsSchema,
  instanceListSchema,
  instanceSchema,
  isTransientMessage,
  locationListSchema,
  parseBody,
  priceListSchema,
  sshKeySchema,
} from "./wire";
import { z } from "zod";

export interface ClientOptions {
  apiKey: string;
  /** Defaults to Hostwinds' endpoint; the stand-in's URL in tests and the demo. */
  apiUrl?: string;
  /** Client-side rate limit shared by all clients of the same URL in this process (default 2/s). */
  requestsPerSecond?: number;
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
  /**
   * Attempts per request, the first included (default 6). Answers that say
   * "rate limited" (429 or Hostwinds' rate-limit body) do not count: the
   * request was turned away unprocessed, so only maxRetryMs bounds them.
   */
  maxAttempts?: number;
  /** Give up retrying after this long in total (default 120 s). */
  maxRetryMs?: number;
  /** Backoff base and cap (defaults 500 ms, 20 s). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** One line per request: action, outcome, time. Never bodies or keys. */
  log?: (line: string) => void;
}

export interface BuyInstanceArgs {
  template: string;
  planId: number;
  locationId: number;
  billingCycle: string;
  sshKeys?: string[];
  name: string;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Look for the first time only after this long (when roughly how long it takes is known). */
  firstCheckAfterMs?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  onProgress?: (line: string) => void;
}

/** What a request may do on the server, which decides whether it may be re-sent. */
type Effect = "read" | "change" | "purchase";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A rate limit, one per API URL per process so concurrent clients share it.
 * Requests wait in a queue; purchases go first, because IP purchases on a
 * server are serialized and every later purchase waits for each one.
 */
class RateLimiter {
  private last = -Infinity;
  private readonly queue: Array<{ urgent: boolean; go: () => void }> = [];
  private timer?: NodeJS.Timeout;
  constructor(private readonly intervalMs: number) {}

  take(urgent = false): Promise<void> {
    if (this.intervalMs <= 0) return Promise.resolve();
    return new Promise((go) => {
      this.queue.push({ urgent, go });
      this.pump();
    });
  }

  private pump(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = this.last + this.intervalMs - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const i = this.queue.findIndex((w) => w.urgent);
    const [next] = this.queue.splice(i >= 0 ? i : 0, 1);
    this.last = Date.now();
    next.go();
    this.pump();
  }
}
const limiters = new Map<string, RateLimiter>();
function limiterFor(url: string, perSecond: number): RateLimiter {
  const key = `${url}#${perSecond}`;
  let l = limiters.get(key);
  if (!l) limiters.set(key, (l = new RateLimiter(perSecond > 0 ? 1000 / perSecond : 0)));
  return l;
}

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 });

export class HostwindsClient {
  readonly apiUrl: string;
  private readonly key: string;
  private readonly opts: Required<Omit<ClientOptions, "apiKey" | "apiUrl" | "log">>;
  private readonly log: (line: string) => void;
  /** Requests sent, by action: the benchmarks count calls with it. */
  readonly calls = new Map<string, number>();

  constructor(options: ClientOptions) {
    if (!options.apiKey) {
      throw new HostwindsError(
        "configure",
        "no API key",
        false,
        "Set the secret config hostwinds:apiKey (pulumi config set --secret hostwinds:apiKey …) or HOSTWINDS_API_KEY",
      );
    }
    this.key = options.apiKey;
    this.apiUrl = options.apiUrl ?? DEFAULT_API_URL;
    this.opts = {
      requestsPerSecond: options.requestsPerSecond ?? 2,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxAttempts: options.maxAttempts ?? 6,
      maxRetryMs: options.maxRetryMs ?? 120_000,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffCapMs: options.backoffCapMs ?? 20_000,
    };
    this.log = options.log ?? (() => undefined);
  }

  // ---- instances ----------------------------------------------------------

  async listInstances(): Promise<Instance[]> {
    return this.read(
      "get_instances",
      {},
      instanceListSchema.nullable().transform((v) => v ?? []),
    );
  }

  /** The instance, or undefined when Hostwinds does not know this id (for this key). */
  async getInstance(serviceId: number): Promise<Instance | undefined> {
    try {
      return await this.read("get_instance", { serviceid: serviceId }, instanceSchema);
    } catch (e) {
      if (e instanceof HostwindsError && e.detail === INVALID_SERVICE_ID) return undefined;
      throw e;
    }
  }

  /** Buys a server. Hostwinds answers with no id: find it afterwards by its name. */
  async buyInstance(a: BuyInstanceArgs): Promise<void> {
    await this.send("add_instance", "purchase", {
      template: a.template,
      rid: a.planId,
      location_id: a.locationId,
      billingcycle: a.billingCycle,
      srvrname: a.name,
      qty: 1,
      keys: a.sshKeys && a.sshKeys.length ? a.sshKeys : undefined,
    });
  }

  /** Terminates a server; false when it was already gone. */
  async terminate(serviceId: number): Promise<boolean> {
    return this.changeUnlessGone("terminate", { serviceid: serviceId });
  }

  async renameInstance(serviceId: number, name: string): Promise<void> {
    await this.send("edit_instance", "change", { serviceid: serviceId, srvrname: name });
  }

  // ---- IPs ------------------------------------------------------------------

  /** Every IP of the server, the main IP included. */
  async listIps(serviceId: number): Promise<InstanceIp[]> {
    const r = await this.read("get_instance_ips", { serviceid: serviceId }, instanceIpsSchema);
    return r["IP Addresses"].map((i) => ({ ip: i.ip, rdns: i.rdns }));
  }

  /** Asks for one more IP on the server; it appears in listIps later. */
  async buySecondaryIp(serviceId: number): Promise<void> {
    await this.send(SECONDARY_IP_PURCHASE.action, "purchase", SECONDARY_IP_PURCHASE.params(serviceId));
  }

  /** Releases a secondary IP; false when it was no longer on the server. */
  async deleteIp(serviceId: number, ip: string): Promise<boolean> {
    return this.changeUnlessGone("delete_ip", { serviceid: serviceId, ip }, /not (found|assigned)|invalid ip/i);
  }

  async setRdns(serviceId: number, ip: string, rdns: string): Promise<void> {
    await this.send("set_rdns", "change", { serviceid: serviceId, ip, rdns });
  }

  // ---- catalog ----------------------------------------------------------------

  async locations(): Promise<Location[]> {
    return this.read("get_locations", {}, locationListSchema);
  }

  async priceList(): Promise<Plan[]> {
    return this.read("get_price_list", {}, priceListSchema);
  }

  async sshKeys(): Promise<string[]> {
    const keys = await this.read(LIST_SSH_KEYS_ACTION, {}, z.array(sshKeySchema));
    return keys.map((k) => k.name);
  }

  // ---- polling -----------------------------------------------------------------

  /**
   * Polls `probe` until it returns a value, with a capped backoff and a deadline.
   * `what` names the thing waited for, in progress lines and in the timeout error.
   */
  async waitFor<T>(what: string, probe: () => Promise<T | undefined>, o: WaitOptions = {}): Promise<T> {
    const timeoutMs = o.timeoutMs ?? 15 * 60_000;
    const start = Date.now();
    let delay = o.initialDelayMs ?? 1000;
    if (o.firstCheckAfterMs && o.firstCheckAfterMs < timeoutMs) await sleep(o.firstCheckAfterMs);
    for (let round = 1; ; round++) {
      const v = await probe();
      if (v !== undefined) return v;
      const elapsed = Date.now() - start;
      if (elapsed + delay > timeoutMs) {
        throw new HostwindsError(
          "wait",
          `gave up waiting for ${what} after ${Math.round(elapsed / 1000)} s`,
          true,
          "Hostwinds may still finish it: run `pulumi refresh` later, then `pulumi up` again",
        );
      }
      o.onProgress?.(`waiting for ${what} (${Math.round(elapsed / 1000)} s, check ${round})`);
      await sleep(delay);
      delay = Math.min(o.maxDelayMs ?? 15_000, Math.ceil(delay * 1.5));
    }
  }

  // ---- transport -----------------------------------------------------------------

  private async read<S extends z.ZodTypeAny>(action: string, params: Record<string, FormValue>, schema: S): Promise<z.output<S>> {
    const r = await this.send(action, "read", params);
    if (r.kind !== "data") throw new HostwindsError(action, "expected data but got a change result", false);
    const parsed = schema.safeParse(r.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HostwindsError(
        action,
        `unexpected response shape at ${issue.path.join(".") || "(root)"}: ${issue.message}`,
        false,
        "The API may have changed; please report it",
      );
    }
    return parsed.data;
  }

  private async changeUnlessGone(action: string, params: Record<string, FormValue>, gone?: RegExp): Promise<boolean> {
    try {
      await this.send(action, "change", params);
      return true;
    } catch (e) {
      if (e instanceof HostwindsError && (e.detail === INVALID_SERVICE_ID || (gone && gone.test(e.detail)))) return false;
      throw e;
    }
  }

  /** Sends one action with retries; returns the parsed success body. */
  async send(action: string, effect: Effect, params: Record<string, FormValue>): Promise<Exclude<Parsed, { kind: "error" }>> {
    const body = encodeForm({ action, API: this.key, ...params });
    const started = Date.now();
    const limiter = limiterFor(this.apiUrl, this.opts.requestsPerSecond);
    let counted = 0;
    for (let attempt = 0; ; attempt++) {
      await limiter.take(effect === "purchase");
      this.calls.set(action, (this.calls.get(action) ?? 0) + 1);
      const t0 = Date.now();
      let failure: { detail: string; retryable: boolean; mayHaveSucceeded: boolean; waitMs?: number; rateLimited?: boolean };
      try {
        const res = await request(this.apiUrl, {
          method: "POST",
          body,
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
          dispatcher: agent,
          headersTimeout: this.opts.requestTimeoutMs,
          bodyTimeout: this.opts.requestTimeoutMs,
        });
        const text = await res.body.text();
        if (res.statusCode === 429) {
          failure = {
            detail: "rate limited (HTTP 429)",
            retryable: true,
            mayHaveSucceeded: false,
            waitMs: retryAfterMs(res.headers["retry-after"]),
            rateLimited: true,
          };
        } else if (res.statusCode >= 500) {
          failure = {
            detail: `server error (HTTP ${res.statusCode})`,
            retryable: true,
            mayHaveSucceeded: true,
            waitMs: retryAfterMs(res.headers["retry-after"]),
          };
        } else if (res.statusCode >= 400) {
          failure = { detail: `HTTP ${res.statusCode}`, retryable: false, mayHaveSucceeded: false };
        } else {
          const parsed = parseBody(text);
          if (parsed.kind !== "error") {
            this.log(`hostwinds ${action} ok ${Date.now() - t0}ms`);
            return parsed;
          }
          const message = redact(parsed.message, [this.key]);
          const transient = isTransientMessage(message);
          // A transient error body is an answer: Hostwinds turned the request away unprocessed.
          failure = {
            detail: message,
            retryable: transient,
            mayHaveSucceeded: false,
            rateLimited: transient && /too many|rate limit/i.test(message),
          };
        }
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const code = err.code ?? err.name;
        // Refused before connecting: nothing reached Hostwinds. Anything else (reset, timeout) may have.
        const notSent = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN";
        failure = { detail: `network error (${code})`, retryable: true, mayHaveSucceeded: !notSent };
      }
      this.log(`hostwinds ${action} failed ${Date.now() - t0}ms: ${failure.detail}`);

      if (effect === "purchase" && failure.mayHaveSucceeded) {
        throw new OutcomeUnknownError(action, failure.detail);
      }
      const elapsed = Date.now() - started;
      const wait = Math.max(failure.waitMs ?? 0, backoffMs(attempt, this.opts.backoffBaseMs, this.opts.backoffCapMs));
      if (!failure.rateLimited) counted++;
      if (!failure.retryable || counted >= this.opts.maxAttempts || elapsed + wait > this.opts.maxRetryMs) {
        const tries = attempt + 1;
        throw new HostwindsError(
          action,
          failure.detail,
          failure.retryable,
          failure.retryable
            ? `gave up after ${tries} attempt${tries > 1 ? "s" : ""} in ${Math.round(elapsed / 1000)} s; run the command again later`
            : undefined,
        );
      }
      await sleep(wait);
    }
  }
}

/**
 * A purchase whose answer was lost: it may or may not have happened. The
 * caller must read the account to decide, never send the purchase again.
 */
export class OutcomeUnknownError extends HostwindsError {
  readonly outcomeUnknown = true;
  constructor(action: string, detail: string) {
    super(action, `${detail}; the purchase may have gone through`, false, "Reading the account to settle it; it is never re-sent blindly");
  }
}
