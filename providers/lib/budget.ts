/**
 * API budgets: one per credential (a Hostwinds API key, a Cloudflare token),
 * spent by every request sent with it, whoever sends it. The provider's own
 * limits are per credential, not per process: Cloudflare allows 1,200 requests
 * per five minutes and then refuses every call for five minutes; Hostwinds
 * publishes none (see ASSUMED in scripts/dev/standins/hostwinds.ts).
 *
 * A budget is a token bucket: `capacity` requests at once, refilled at
 * `perSecond`. It never allows more than capacity + perSecond × window in any
 * window, so the defaults keep that under the provider's limit with a margin.
 * Credentials are keyed by a hash, never by the secret.
 *
 * The store decides who shares it: `InProcessBudget` is shared by every client
 * in one process (the fleet's inventory, one engine run's providers); a store in
 * the service's Postgres shares it between processes and machines (the same
 * interface; see docs/operators.md, the fleet section).
 */
import { createHash } from "crypto";
import { sleep } from "./retry";

export interface BudgetLimit {
  /** Requests that may go at once (the bucket's size). */
  capacity: number;
  /** Refill rate. */
  perSecond: number;
}

/** Cloudflare: 1,200 / 5 min documented; 50 at once + 3.5/s = at most 1,100 in any 5 minutes. */
export const CLOUDFLARE_BUDGET: BudgetLimit = { capacity: 50, perSecond: 3.5 };
/** Hostwinds: the client's long-standing 2/s (no published limit), with a small burst. */
export const HOSTWINDS_BUDGET: BudgetLimit = { capacity: 10, perSecond: 2 };

/**
 * A limit from an environment value "capacity,perSecond" (e.g. "50,3.5"); "0" or "off" turns
 * the budget off; unset keeps the default. A malformed value is an error naming the variable.
 */
export function budgetLimitFrom(variable: string, value: string | undefined, dflt: BudgetLimit | undefined): BudgetLimit | undefined {
  if (value === undefined || value === "") return dflt;
  if (value === "0" || value === "off") return undefined;
  const [capacity, perSecond] = value.split(",").map(Number);
  if (!(capacity >= 1) || !(perSecond > 0)) throw new Error(`${variable}=${value}: give "capacity,perSecond" (e.g. "50,3.5"), or "off"`);
  return { capacity, perSecond };
}

/** Where budgets are kept. `take` resolves when `cost` requests may be sent with the credential. */
export interface BudgetStore {
  take(credential: string, limit: BudgetLimit, cost?: number): Promise<void>;
}

/** The key a credential's budget is filed under: a hash, so no store ever holds the secret. */
export function credentialId(api: string, secret: string): string {
  return `${api}:${createHash("sha256").update(secret).digest("hex").slice(0, 16)}`;
}

/** Token buckets in this process's memory. */
export class InProcessBudget implements BudgetStore {
  private readonly buckets = new Map<string, { tokens: number; at: number; queue: Promise<void> }>();
  /** Requests taken per credential id (for figures). */
  readonly taken = new Map<string, number>();

  take(credential: string, limit: BudgetLimit, cost = 1): Promise<void> {
    if (limit.perSecond <= 0) return Promise.resolve();
    let b = this.buckets.get(credential);
    if (!b) this.buckets.set(credential, (b = { tokens: limit.capacity, at: Date.now(), queue: Promise.resolve() }));
    const bucket = b;
    // One waiter at a time per credential, in arrival order.
    const turn = bucket.queue.then(async () => {
      for (;;) {
        const now = Date.now();
        bucket.tokens = Math.min(limit.capacity, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
        bucket.at = now;
        if (bucket.tokens >= cost) {
          bucket.tokens -= cost;
          this.taken.set(credential, (this.taken.get(credential) ?? 0) + cost);
          return;
        }
        await sleep(Math.ceil(((cost - bucket.tokens) / limit.perSecond) * 1000));
      }
    });
    bucket.queue = turn;
    return turn;
  }
}

let processBudget: BudgetStore | undefined;

/**
 * The budget store the API clients of this process take from: the shared Postgres one when
 * PENGUINMAILS_BUDGET_DATABASE_URL is set (every process of the fleet, the engine's provider
 * processes included, inherits it), else one in this process's memory.
 */
export function budgetStore(): BudgetStore {
  const url = process.env.PENGUINMAILS_BUDGET_DATABASE_URL;
  processBudget ??= url ? PostgresBudget.connect(url) : new InProcessBudget();
  return processBudget;
}

/** Replaces the store (the fleet worker installs the shared one before any client runs). */
export function useBudgetStore(store: BudgetStore): void {
  processBudget = store;
}

/** A credential's budget as the HTTP layer takes from it. */
export interface Budget {
  take(): Promise<void>;
}

export function budgetFor(api: string, secret: string, limit: BudgetLimit): Budget {
  const id = credentialId(api, secret);
  return { take: () => budgetStore().take(id, limit) };
}

/**
 * Budgets kept in Postgres (the provisioning service's database), shared by every process on
 * every machine that points at it: one row per credential id, refilled and taken in one UPDATE
 * (the row lock orders concurrent takers). A taker that finds too few tokens waits for the
 * refill it needs and tries again. The table is created on first use.
 */
export class PostgresBudget implements BudgetStore {
  private ready?: Promise<void>;
  constructor(private readonly query: (sql: string, params?: unknown[]) => Promise<{ rows: Array<Record<string, unknown>> }>) {}

  /** A store on a connection string (`pg` is loaded only when a Postgres budget is used). */
  static connect(url: string): PostgresBudget {
    const { Pool } = require("pg") as typeof import("pg");
    const pool = new Pool({ connectionString: url, max: 4 });
    pool.on("error", () => undefined);
    return new PostgresBudget((sql, params) => pool.query(sql, params as unknown[]) as never);
  }

  async take(credential: string, limit: BudgetLimit, cost = 1): Promise<void> {
    if (limit.perSecond <= 0) return;
    this.ready ??= this.query(
      `create table if not exists api_budgets (credential text primary key, tokens double precision not null, at timestamptz not null default clock_timestamp())`,
    ).then(
      () => undefined,
      // Two processes creating it at once: one wins, the other sees a duplicate (Postgres' known race).
      (e: Error) => {
        if (!/already exists|duplicate key/.test(e.message)) throw e;
      },
    );
    await this.ready;
    await this.query(`insert into api_budgets (credential, tokens) values ($1, $2) on conflict (credential) do nothing`, [
      credential,
      limit.capacity,
    ]);
    for (;;) {
      const { rows } = await this.query(
        `with cur as (
           select credential, least($2::float8, tokens + extract(epoch from clock_timestamp() - at) * $3::float8) as t
             from api_budgets where credential = $1 for update)
         update api_budgets b
            set tokens = case when cur.t >= $4::float8 then cur.t - $4::float8 else cur.t end, at = clock_timestamp()
           from cur where b.credential = cur.credential
         returning cur.t >= $4::float8 as took, cur.t as had`,
        [credential, limit.capacity, limit.perSecond, cost],
      );
      if (rows[0]?.took === true) return;
      const had = Number(rows[0]?.had ?? 0);
      await sleep(Math.max(10, Math.ceil(((cost - had) / limit.perSecond) * 1000)));
    }
  }
}
