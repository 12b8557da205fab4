/**
 * A Hostwinds Cloud API client: typed actions on the shared HTTP layer
 * (providers/lib/http.ts: rate limit, retry, outcome unknown), Hostwinds' own
 * reading of answers (errors come with HTTP 200 and an error body, which only
 * this file can judge), one error type, and polling for asynchronous work.
 * Purchases are never re-sent once the request may have reached Hostwinds:
 * the call ends in OutcomeUnknownError and the caller settles it by reading.
 */
import { recordPurchase } from "../lib/purchases";
import { Budget, BudgetLimit, budgetFor, budgetLimitFrom } from "../lib/budget";
import { Failure, HttpAnswer, OutcomeUnknownError, Verdict, call, rateLimiter } from "../lib/http";
import { sleep } from "../lib/retry";
import { scrub } from "../lib/secrets";
import { HostwindsError } from "./errors";
import {
  DEFAULT_API_URL,
  DEFAULT_IP_PURCHASE_ACTION,
  REINSTALL_ACTION,
  UPGRADE_ACTION,
  FormValue,
  INVALID_SERVICE_ID,
  Image,
  Instance,
  InstanceIp,
  LIST_SSH_KEYS_ACTION,
  Location,
  PRICE_LIST_PARAMS,
  Parsed,
  Plan,
  encodeForm,
  imageListSchema,
  ipPurchaseParams,
  instanceIpsSchema,
  instanceListSchema,
  instanceSchema,
  isTransientMessage,
  locationListSchema,
  parseBody,
  priceListSchema,
  purchasedIpIn,
  shapeOf,
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
  /**
   * The key's budget (providers/lib/budget.ts), shared with every other user of the key (default:
   * requestsPerSecond with a burst of 10; env HOSTWINDS_BUDGET "capacity,perSecond" or "off"); null: none.
   */
  budget?: BudgetLimit | null;
  /** Called before any purchase is sent; throws to refuse it (the probe gate, catalog.ts checkProbed). */
  beforePurchase?: (action: string) => void;
}

export interface BuyInstanceArgs {
  /** An image UUID (TF variables.tf: "Template UUID for VPS (from get_public_images, snapshots, etc.)"). */
  template: string;
  /** The plan's rid in get_price_list (TF: "Resource ID from get_price_list"), not its id. */
  planRid: number;
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

/** A wait reports its first check, then at most one line this often. */
export const PROGRESS_EVERY_MS = 10_000;

/** What a request may do on the server, which decides whether it may be re-sent. */
type Effect = "read" | "change" | "purchase";

/** An answer of another shape than the client expects: the action, where it differs, and the answer's shape (never its values). */
export class UnexpectedShapeError extends HostwindsError {
  constructor(
    action: string,
    readonly where: string,
    readonly shape: string,
  ) {
    super(
      action,
      `unexpected response shape at ${where}; the answer was ${shape}`,
      false,
      "The API may have changed or the assumption is wrong; please report it",
    );
  }
}

/** Whether Hostwinds answered with a refusal (an error body: unknown action, not authorized, …), not a shape or network failure. */
export const isRefusal = (e: unknown): e is HostwindsError =>
  e instanceof HostwindsError && !(e instanceof UnexpectedShapeError) && !e.retryable;

export class HostwindsClient {
  readonly apiUrl: string;
  private readonly key: string;
  private readonly opts: Required<Omit<ClientOptions, "apiKey" | "apiUrl" | "log" | "budget" | "beforePurchase">>;
  private readonly beforePurchase?: (action: string) => void;
  private readonly budget?: Budget;
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
    this.beforePurchase = options.beforePurchase;
    const rate = this.opts.requestsPerSecond;
    const limit =
      options.budget === null
        ? undefined
        : (options.budget ??
          budgetLimitFrom("HOSTWINDS_BUDGET", process.env.HOSTWINDS_BUDGET, rate > 0 ? { capacity: 10, perSecond: rate } : undefined));
    if (limit) this.budget = budgetFor("hostwinds", this.key, limit);
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

  /**
   * Whether this key sees the account at all. A stale or revoked key answers "A valid serviceid is
   * required." for every server (HWF README), which must never be read as "the server is gone":
   * get_instances with a bad key answers Hostwinds' auth error or the same message, and either stops here.
   */
  async confirmAccess(): Promise<void> {
    await this.listInstances();
  }

  /** Buys a server. Hostwinds answers with no id: find it afterwards by its name. `template` is an image UUID. */
  async buyInstance(a: BuyInstanceArgs): Promise<void> {
    await this.send("add_instance", "purchase", {
      template: a.template,
      rid: a.planRid,
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

  /**
   * Rebuilds the server's OS from an image on the same VPS, keeping its IPs
   * (../shared/reference/hostwinds-api.md: `reinstall_instance` with `template`, answered "Reinstall
   * Instance" / "…is being rebuilt!", asynchronous [D]). [assumed] See ASSUMPTIONS: reinstall.
   */
  async reinstallInstance(serviceId: number, template: string): Promise<void> {
    await this.send(REINSTALL_ACTION, "change", { serviceid: serviceId, template });
  }

  /**
   * Orders a plan change of the same server (PM upgrade-billing.md [D]: `upgrade_instance` with the
   * plan's `rid` creates an order and invoice). Billed: sent once, like a purchase.
   */
  async upgradeInstance(serviceId: number, planRid: number): Promise<void> {
    await this.send(UPGRADE_ACTION, "purchase", { serviceid: serviceId, rid: planRid });
  }

  /** Accepts a finished resize (status RESIZED → ACTIVE; PM upgrade-billing.md [D]). */
  async confirmUpgrade(serviceId: number): Promise<void> {
    await this.send("confirm_upgrade", "change", { serviceid: serviceId });
  }

  async renameInstance(serviceId: number, name: string): Promise<void> {
    await this.send("edit_instance", "change", { serviceid: serviceId, srvrname: name });
  }

  // ---- IPs ------------------------------------------------------------------

  /** Every IP of the server, the main IP included. */
  async listIps(serviceId: number): Promise<InstanceIp[]> {
    const r = await this.read("get_instance_ips", { serviceid: serviceId }, instanceIpsSchema);
    return r.map((i) => ({ ip: i.ip, rdns: i.rdns }));
  }

  /**
   * Asks for one more IP on the server; it appears in listIps later (hours or days later when
   * Hostwinds wants an IP justification). Returns the IP when the answer names it ([assumed], rare).
   */
  async buySecondaryIp(serviceId: number, action: string = DEFAULT_IP_PURCHASE_ACTION): Promise<string | undefined> {
    try {
      const r = await this.send(action, "purchase", ipPurchaseParams(serviceId));
      return r.kind === "results" ? purchasedIpIn(r.items) : undefined;
    } catch (e) {
      // "Invalid Action." is answered before anything is done: the assumed action name is wrong, nothing was bought.
      if (e instanceof HostwindsError && /invalid action/i.test(e.detail))
        throw new HostwindsError(
          action,
          e.detail,
          false,
          `Hostwinds has no action ${action} (ASSUMPTIONS: the secondary-IP purchase action); nothing was bought. Set hostwinds:ipPurchaseAction to the action Hostwinds documents, or run \`npm run fleet -- probe\``,
        );
      throw e;
    }
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

  /** Unmanaged plans (get_price_list defaults to managed=1 per PM upgrade-billing.md). */
  async priceList(): Promise<Plan[]> {
    return this.read("get_price_list", { ...PRICE_LIST_PARAMS }, priceListSchema);
  }

  /** Public images with their UUIDs (TF names get_public_images as the source of template UUIDs). */
  async images(): Promise<Image[]> {
    return this.read("get_public_images", {}, imageListSchema);
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
    let reportedAt = -Infinity;
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
      // The first check, then one line per PROGRESS_EVERY_MS: a 30-minute wait polled every 0.1 s
      // once printed 16,000 lines.
      if (elapsed - reportedAt >= PROGRESS_EVERY_MS) {
        reportedAt = elapsed;
        o.onProgress?.(`waiting for ${what} (${Math.round(elapsed / 1000)} s, check ${round})`);
      }
      await sleep(delay);
      delay = Math.min(o.maxDelayMs ?? 15_000, Math.ceil(delay * 1.5));
    }
  }

  // ---- transport -----------------------------------------------------------------

  private async read<S extends z.ZodTypeAny>(action: string, params: Record<string, FormValue>, schema: S): Promise<z.output<S>> {
    const r = await this.send(action, "read", params);
    if (r.kind !== "data") throw new UnexpectedShapeError(action, "(root) (expected {success: …})", shapeOf(r.items));
    const parsed = schema.safeParse(r.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UnexpectedShapeError(action, `${issue.path.join(".") || "(root)"} (${issue.message})`, `{success: ${shapeOf(r.data)}}`);
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

  /** Sends one action through the HTTP layer; returns the parsed success body. */
  async send(action: string, effect: Effect, params: Record<string, FormValue>): Promise<Exclude<Parsed, { kind: "error" }>> {
    const body = encodeForm({ action, API: this.key, ...params });
    if (effect === "purchase") this.beforePurchase?.(action);
    if (effect === "purchase") recordPurchase(params.srvrname ? `${action} ${params.srvrname}` : `${action} on server ${params.serviceid}`);
    return call({
      api: "Hostwinds",
      operation: action,
      repeatable: effect !== "purchase",
      urgent: effect === "purchase",
      limiter: rateLimiter(this.apiUrl, this.opts.requestsPerSecond),
      budget: this.budget,
      retry: this.opts,
      request: () => ({
        method: "POST",
        url: this.apiUrl,
        body,
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        timeoutMs: this.opts.requestTimeoutMs,
        // Keys bound to an IPv4 allow-list refuse calls that arrive over IPv6 (hostwinds-api.md §1, NS).
        ipv4Only: true,
      }),
      judge: (a) => this.judge(a),
      fail: (f: Failure, tries: number, elapsedMs: number) =>
        new HostwindsError(
          action,
          f.detail,
          f.retryable,
          f.retryable
            ? `gave up after ${tries} attempt${tries > 1 ? "s" : ""} in ${Math.round(elapsedMs / 1000)} s; run the command again later`
            : undefined,
        ),
      onAttempt: (outcome, ms) => {
        this.calls.set(action, (this.calls.get(action) ?? 0) + 1);
        this.log(`hostwinds ${action} ${outcome} ${ms}ms`);
      },
    });
  }

  /** Hostwinds' reading of an answer: HTTP status first, then the body (errors come with 200). */
  private judge(a: HttpAnswer): Verdict<Exclude<Parsed, { kind: "error" }>> {
    if (a.status === 429)
      return {
        ok: false,
        detail: "rate limited (HTTP 429)",
        retryable: true,
        mayHaveTakenEffect: false,
        rateLimited: true,
        waitMs: a.retryAfterMs,
      };
    if (a.status >= 500)
      return { ok: false, detail: `server error (HTTP ${a.status})`, retryable: true, mayHaveTakenEffect: true, waitMs: a.retryAfterMs };
    if (a.status >= 400) return { ok: false, detail: `HTTP ${a.status}`, retryable: false, mayHaveTakenEffect: false };
    const parsed = parseBody(a.text);
    if (parsed.kind !== "error") return { ok: true, value: parsed };
    const message = scrub(parsed.message, [this.key]);
    const transient = isTransientMessage(message);
    // A transient error body is an answer: Hostwinds turned the request away unprocessed.
    return {
      ok: false,
      detail: message,
      retryable: transient,
      mayHaveTakenEffect: false,
      rateLimited: transient && /too many|rate limit/i.test(message),
    };
  }
}

export { OutcomeUnknownError };
