/**
 * The one HTTP layer of the API clients (Hostwinds, Cloudflare), as a chain of small layers:
 *
 *   send        one request on a shared keep-alive agent with timeouts; a network failure says
 *               whether the request may have reached the server
 *   rate limit  a client-side limiter shared by every client of one API endpoint in the process
 *   judge       the API's own reading of an answer (each client supplies it: Hostwinds answers
 *               errors with HTTP 200, Cloudflare with an envelope) → value, or a failure that says
 *               whether it may have taken effect and whether trying again can help
 *   retry       full-jitter exponential backoff honouring Retry-After; answers that say "rate
 *               limited" were turned away unprocessed, so they count against time, not attempts;
 *               a request that must not be repeated (a purchase, a create) whose outcome is unknown
 *               is never re-sent: it ends in OutcomeUnknownError and the caller settles it by reading
 *   parse       each client's zod schema, after the chain
 *
 * Errors carry no credential and no raw body: clients scrub details with `scrub` before judging.
 */
import * as http from "http";
import * as https from "https";
import { backoffMs, retryAfterMs, sleep } from "./retry";
import type { Budget } from "./budget";

/**
 * Keep-alive agents shared by every API client of the process: 8 connections per host, an idle
 * one closed after 10 s. Node's own `http`/`https`, not undici: loading undici cost ~0.1 s of CPU
 * in every engine process that makes a call (the program's account check, each provider process),
 * a tenth of a preview (issue 29). `ipv4`: connecting over IPv4 only. A Hostwinds key can be bound
 * to an IPv4 allow-list, and a call that leaves a dual-stack runner over IPv6 then gets "Not
 * Authorized!" although the runner's IPv4 is allowed (hostwinds-api.md §1, the network-sync script
 * that forces IPv4). `family: 4` is passed to the socket's lookup, so a name with AAAA records
 * still connects to its A record.
 */
const agents = new Map<string, http.Agent>();
function agentFor(secure: boolean, ipv4: boolean): http.Agent {
  const key = `${secure}:${ipv4}`;
  let a = agents.get(key);
  if (!a) {
    const o = { keepAlive: true, maxSockets: 8, timeout: 10_000, ...(ipv4 ? { family: 4 } : {}) };
    a = secure ? new https.Agent(o) : new http.Agent(o);
    agents.set(key, a);
  }
  return a;
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Connect over IPv4 only (APIs whose keys are bound to IPv4 allow-lists). */
  ipv4Only?: boolean;
}

export interface HttpAnswer {
  status: number;
  /** Retry-After in milliseconds, when the answer had one. */
  retryAfterMs?: number;
  text: string;
}

/** A request that got no answer. `reached`: it may have reached the server (reset, timeout), so it may have taken effect. */
export class NetworkFailure extends Error {
  constructor(
    readonly code: string,
    readonly reached: boolean,
  ) {
    super(`network error (${code})`);
  }
}

/** Layer 1: one request, one answer (any status), or a NetworkFailure. */
export function send(r: HttpRequest): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      const err = e as NodeJS.ErrnoException;
      const code = err.code ?? err.name;
      // Refused or unresolvable: nothing reached the server. Anything else (reset, timeout) may have.
      reject(new NetworkFailure(code, !(code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN")));
    };
    let url: URL;
    try {
      url = new URL(r.url);
    } catch (e) {
      return fail(Object.assign(e as Error, { code: "ERR_INVALID_URL" }));
    }
    const secure = url.protocol === "https:";
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) headers["content-length"] = Buffer.byteLength(r.body);
    const req = (secure ? https : http).request(url, { method: r.method, headers, agent: agentFor(secure, !!r.ipv4Only) });
    // No byte for timeoutMs while waiting for the answer's head or body: given up (as undici's headersTimeout and bodyTimeout).
    req.setTimeout(r.timeoutMs, () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", fail);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", fail);
      res.on("aborted", () => fail(Object.assign(new Error("aborted"), { code: "ECONNRESET" })));
      res.on("end", () => {
        if (settled) return;
        settled = true;
        resolve({
          status: res.statusCode ?? 0,
          retryAfterMs: retryAfterMs(res.headers["retry-after"]),
          text: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    req.end(r.body);
  });
}

/**
 * Layer 2: a rate limit, one per key (an API endpoint) per process so concurrent clients share it.
 * Requests wait in a queue; urgent ones (purchases, which serialize later purchases) go first.
 */
export class RateLimiter {
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
/** The process-wide limiter of `key` at `perSecond` requests a second (0 = unlimited). */
export function rateLimiter(key: string, perSecond: number): RateLimiter {
  const k = `${key}#${perSecond}`;
  let l = limiters.get(k);
  if (!l) limiters.set(k, (l = new RateLimiter(perSecond > 0 ? 1000 / perSecond : 0)));
  return l;
}

/** Layer 3's answer: what the API made of an answer. */
export type Verdict<T> =
  | { ok: true; value: T }
  | {
      ok: false;
      /** Free of secrets: shown to users. */
      detail: string;
      /** Trying the same request again may succeed (rate limit, 5xx, network). */
      retryable: boolean;
      /** The request may have taken effect although it failed (a 5xx after it was processed). */
      mayHaveTakenEffect: boolean;
      /** Turned away unprocessed for rate: bounded by time, not by attempts. */
      rateLimited?: boolean;
      waitMs?: number;
      /** Extra failure facts for the client's error (status, API error codes). */
      facts?: Record<string, unknown>;
    };
export type Failure = Extract<Verdict<unknown>, { ok: false }>;

export interface RetryPolicy {
  /** Attempts per request, the first included; rate-limit answers do not count. */
  maxAttempts: number;
  /** Give up retrying after this long in total. */
  maxRetryMs: number;
  backoffBaseMs: number;
  backoffCapMs: number;
}

/**
 * A request whose outcome is unknown: it must not be repeated (a purchase, a create) and its answer
 * was lost or said the server failed after it may have acted. The caller reads the account to
 * settle it; it is never re-sent blindly. One type for every API.
 */
export class OutcomeUnknownError extends Error {
  override readonly name = "OutcomeUnknownError";
  constructor(
    /** "Hostwinds", "Cloudflare". */
    readonly api: string,
    /** The operation, e.g. "add_instance" or "create TXT acme-mail.com". */
    readonly operation: string,
    readonly detail: string,
  ) {
    super(`${api} ${operation}: ${detail}; it may have gone through. Reading the account to settle it; it is never re-sent blindly`);
  }
}

export interface CallOptions<T> {
  api: string;
  operation: string;
  /** May be sent again after an answer that may have taken effect (reads, PUT, DELETE): false for purchases and creates. */
  repeatable: boolean;
  /** Goes first in the rate limiter's queue. */
  urgent?: boolean;
  limiter: RateLimiter;
  /** The credential's budget, shared by whoever uses the credential (budget.ts); one unit per request sent. */
  budget?: Budget;
  retry: RetryPolicy;
  request: () => HttpRequest;
  judge: (answer: HttpAnswer) => Verdict<T>;
  /** The client's error for a failure that ends the call. */
  fail: (f: Failure, attempts: number, elapsedMs: number) => Error;
  /** Called once per request sent (call counting, logs: never bodies or keys). */
  onAttempt?: (outcome: string, ms: number) => void;
}

/** Layers 2–4 around `send`: rate limit, judge, retry. Returns the judged value. */
export async function call<T>(o: CallOptions<T>): Promise<T> {
  const started = Date.now();
  let counted = 0;
  for (let attempt = 0; ; attempt++) {
    await o.limiter.take(o.urgent);
    await o.budget?.take();
    const t0 = Date.now();
    let failure: Failure;
    try {
      const verdict = o.judge(await send(o.request()));
      if (verdict.ok) {
        o.onAttempt?.("ok", Date.now() - t0);
        return verdict.value;
      }
      failure = verdict;
    } catch (e) {
      if (!(e instanceof NetworkFailure)) throw e;
      failure = { ok: false, detail: e.message, retryable: true, mayHaveTakenEffect: e.reached };
    }
    o.onAttempt?.(`failed: ${failure.detail}`, Date.now() - t0);
    if (!o.repeatable && failure.mayHaveTakenEffect) throw new OutcomeUnknownError(o.api, o.operation, failure.detail);
    const elapsed = Date.now() - started;
    const wait = Math.max(failure.waitMs ?? 0, backoffMs(attempt, o.retry.backoffBaseMs, o.retry.backoffCapMs));
    if (!failure.rateLimited) counted++;
    if (!failure.retryable || counted >= o.retry.maxAttempts || elapsed + wait > o.retry.maxRetryMs) {
      throw o.fail(failure, attempt + 1, elapsed);
    }
    await sleep(wait);
  }
}
