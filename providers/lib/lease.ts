/**
 * One writer per stack: a lease the provider process takes before its first purchase and keeps
 * (a heartbeat every few seconds) while it lives. Pulumi's own update lock does not do this job:
 * `pulumi cancel` deletes it while the engine that took it is still running (issue 31: a second
 * shell followed the "locked … pulumi cancel" hint and both runs bought, 7 IPs for 4 slots).
 *
 * Where it lives, so that every engine on the stack sees it:
 * - `file://<dir>` backends: `<dir>/.pulumi/penguinmails/leases/<project>/<stack>.json`, beside
 *   Pulumi's own locks (pkg/backend/diy/lock.go keeps them under `.pulumi/locks/`), taken with an
 *   exclusive create (O_EXCL) and, when stale, moved aside by one atomic rename;
 * - `postgres://` backends: a row of `penguinmails_stack_leases` in the backend's database, taken
 *   by one INSERT … ON CONFLICT … WHERE (free, stale or already ours), so two takers never both win;
 * - any other backend (Pulumi Cloud, s3://…): a file in this machine's temporary folder, which
 *   stops a second engine on this machine only (said in the progress line).
 * The Hostwinds account cannot hold it: no public action stores data but a server's name, which
 * holds the owner mark and the order journal and is rewritten by every run.
 *
 * A holder is live while its heartbeat is younger than LEASE_TTL_MS and, on the same host, its
 * process exists. A run killed with SIGKILL leaves a lease that is free at once on the same host
 * and after LEASE_TTL_MS elsewhere; a taker waits that long before refusing, so a rerun right
 * after a kill on another machine is not refused.
 */
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const LEASE_TTL_MS = 30_000;
export const HEARTBEAT_MS = 5_000;

export interface LeaseHolder {
  id: string;
  pid: number;
  host: string;
  since: string;
  heartbeatAt: string;
  /** What it was about to do when it took the lease (for the refusal message). */
  doing: string;
}

export class LeaseHeldError extends Error {
  override readonly name = "LeaseHeldError";
  constructor(
    readonly stackName: string,
    readonly holder: LeaseHolder,
    doing: string,
  ) {
    super(
      `stack ${stackName}: another engine is writing this stack (process ${holder.pid} on ${holder.host}, since ${holder.since}, ` +
        `last seen ${holder.heartbeatAt}, about to ${holder.doing}); refusing to ${doing}, so nothing is bought twice. Nothing was bought. ` +
        "Let that run finish (or stop that process), then run again. Do not `pulumi cancel` while it is alive: that only removes Pulumi's lock, and both runs would buy.",
    );
  }
}

/** Whether a holder is still writing, seen from this process. */
export function holderAlive(h: LeaseHolder, now = Date.now(), host = os.hostname()): boolean {
  if (now - Date.parse(h.heartbeatAt) > LEASE_TTL_MS) return false;
  if (h.host === host) {
    try {
      process.kill(h.pid, 0);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  return true;
}

/** Where leases are kept: one implementation per backend kind. */
export interface LeaseStore {
  readonly where: string;
  /** Takes the lease if it is free, stale (per `stale`) or ours; returns the holder after the attempt. */
  take(key: string, me: LeaseHolder, stale: (h: LeaseHolder) => boolean): Promise<LeaseHolder>;
  /** Renews our heartbeat; false when the lease is no longer ours. */
  renew(key: string, me: LeaseHolder): Promise<boolean>;
  release(key: string, me: LeaseHolder): void;
  /** Who holds the lease now, if anyone (live or not). */
  peek(key: string): Promise<LeaseHolder | undefined>;
  close(): Promise<void>;
}

export function fileLeaseStore(dir: string, where = dir): LeaseStore {
  const file = (key: string) => path.join(dir, `${key}.json`);
  const read = (f: string): LeaseHolder | undefined => {
    try {
      return JSON.parse(fs.readFileSync(f, "utf8")) as LeaseHolder;
    } catch {
      return undefined;
    }
  };
  return {
    where,
    async take(key, me, stale) {
      const f = file(key);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          fs.writeFileSync(f, JSON.stringify(me), { flag: "wx" });
          return me;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        const h = read(f);
        if (h?.id === me.id) return h;
        // A half-written file (a kill mid-write) is stale too.
        if (h && !stale(h)) return h;
        // Move the stale lease aside: one rename succeeds, every other taker gets ENOENT and retries.
        const aside = `${f}.stale-${me.id}`;
        try {
          fs.renameSync(f, aside);
          fs.rmSync(aside, { force: true });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }
      }
      return read(f) ?? me;
    },
    async renew(key, me) {
      const f = file(key);
      if (read(f)?.id !== me.id) return false;
      const tmp = `${f}.${me.id}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ ...me, heartbeatAt: new Date().toISOString() }));
      fs.renameSync(tmp, f);
      return true;
    },
    release(key, me) {
      const f = file(key);
      if (read(f)?.id === me.id) fs.rmSync(f, { force: true });
    },
    async peek(key) {
      return read(file(key));
    },
    async close() {},
  };
}

export function postgresLeaseStore(connection: string, where: string): LeaseStore {
  // pg is loaded only when a Postgres backend is used.
  const { Pool } = require("pg") as typeof import("pg");
  const pool = new Pool({ connectionString: connection, max: 2 });
  pool.on("error", () => undefined);
  let ready: Promise<unknown> | undefined;
  const init = () =>
    (ready ??= pool.query(
      "create table if not exists penguinmails_stack_leases (key text primary key, holder jsonb not null, heartbeat timestamptz not null)",
    ));
  return {
    where,
    async take(key, me, stale) {
      await init();
      const cur = await pool.query<{ holder: LeaseHolder }>("select holder from penguinmails_stack_leases where key = $1", [key]);
      const h = cur.rows[0]?.holder;
      if (h && h.id !== me.id && !stale(h)) return h;
      // Takes the row only if it still holds what was judged above (nothing, ours, or that stale holder).
      const { rows } = await pool.query<{ holder: LeaseHolder }>(
        `insert into penguinmails_stack_leases (key, holder, heartbeat) values ($1, $2, now())
         on conflict (key) do update set holder = excluded.holder, heartbeat = now()
           where penguinmails_stack_leases.holder->>'id' in ($3, $4)
         returning holder`,
        [key, JSON.stringify(me), h?.id ?? me.id, me.id],
      );
      if (rows[0]) return rows[0].holder;
      const now = await pool.query<{ holder: LeaseHolder }>("select holder from penguinmails_stack_leases where key = $1", [key]);
      return now.rows[0]?.holder ?? me;
    },
    async renew(key, me) {
      const r = await pool.query(
        "update penguinmails_stack_leases set heartbeat = now(), holder = jsonb_set(holder, '{heartbeatAt}', to_jsonb($3::text)) where key = $1 and holder->>'id' = $2",
        [key, me.id, new Date().toISOString()],
      );
      return (r.rowCount ?? 0) > 0;
    },
    release(key, me) {
      void pool.query("delete from penguinmails_stack_leases where key = $1 and holder->>'id' = $2", [key, me.id]).catch(() => undefined);
    },
    async peek(key) {
      await init();
      const { rows } = await pool.query<{ holder: LeaseHolder }>("select holder from penguinmails_stack_leases where key = $1", [key]);
      return rows[0]?.holder;
    },
    close: () => pool.end(),
  };
}

/** The store for a backend URL (PULUMI_BACKEND_URL or the `pulumi login`), as described above. */
export function leaseStoreFor(backendUrl: string | undefined): LeaseStore {
  if (backendUrl?.startsWith("file://")) {
    const dir = backendUrl
      .slice("file://".length)
      .replace(/^~(?=\/)/, os.homedir())
      .replace(/\?.*$/, "");
    return fileLeaseStore(path.join(dir, ".pulumi", "penguinmails", "leases"), "the file backend");
  }
  if (backendUrl?.startsWith("postgres://")) {
    const connection = backendUrl.replace(/([?&])table=[^&]*&?/, "$1").replace(/[?&]$/, "");
    return postgresLeaseStore(connection, "the Postgres backend");
  }
  // PENGUINMAILS_LEASE_DIR: another folder for this machine's leases (the tests give each checkout its own).
  const dir = process.env.PENGUINMAILS_LEASE_DIR || path.join(os.tmpdir(), "penguinmails-leases");
  return fileLeaseStore(dir, "this machine only (the backend is not file:// or postgres://)");
}

/** The Pulumi project of the program this provider serves: `name:` of Pulumi.yaml in the working folder. */
export function projectOf(dir = process.cwd()): string {
  try {
    return /^name:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"))?.[1] ?? "unknown-project";
  } catch {
    return "unknown-project";
  }
}

/**
 * This process's leases: taken once per stack, renewed every HEARTBEAT_MS while the process
 * lives, given up when it exits. `acquire` waits up to LEASE_TTL_MS (plus a beat) for a holder
 * that stopped beating before refusing with LeaseHeldError.
 */
export class Leases {
  private readonly me: LeaseHolder;
  private readonly held = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: LeaseStore,
    o: { waitMs?: number; pollMs?: number } = {},
  ) {
    const now = new Date().toISOString();
    this.me = { id: randomUUID(), pid: process.pid, host: os.hostname(), since: now, heartbeatAt: now, doing: "" };
    this.waitMs = o.waitMs ?? LEASE_TTL_MS + HEARTBEAT_MS;
    this.pollMs = o.pollMs ?? 1_000;
  }
  private readonly waitMs: number;
  private readonly pollMs: number;

  acquire(project: string, stack: string, doing: string, progress: (line: string) => void = () => undefined): Promise<void> {
    const key = `${project}/${stack}`;
    let p = this.held.get(key);
    if (!p) {
      p = this.take(key, stack, doing, progress);
      p.catch(() => this.held.delete(key));
      this.held.set(key, p);
    }
    return p;
  }

  private async take(key: string, stack: string, doing: string, progress: (line: string) => void): Promise<void> {
    const me = { ...this.me, doing, heartbeatAt: new Date().toISOString() };
    const deadline = Date.now() + this.waitMs;
    let told = false;
    for (;;) {
      const h = await this.store.take(key, me, (x) => !holderAlive(x));
      if (h.id === me.id) break;
      if (Date.now() >= deadline) throw new LeaseHeldError(stack, h, doing);
      if (!told) {
        progress(`stack ${stack}: waiting for the writer lease held by process ${h.pid} on ${h.host} (${this.store.where}) before buying`);
        told = true;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    Object.assign(this.me, { doing });
    if (!this.timer) {
      this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
      this.timer.unref();
      process.once("exit", () => this.releaseAll());
    }
  }

  private async beat(): Promise<void> {
    for (const key of this.held.keys()) await this.store.renew(key, this.me).catch(() => false);
  }

  /** Gives up every lease (process exit; tests). */
  releaseAll(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const key of this.held.keys()) this.store.release(key, this.me);
    this.held.clear();
  }
}

let processLeases: Leases | undefined;
/** This provider process's writer leases, in the store of the backend the engine uses (one per process, shared by every resource type). */
export function stackLeases(backend: () => string | undefined): Leases {
  return (processLeases ??= new Leases(leaseStoreFor(backend())));
}
/** Tests and the harness: leases in a given store (undefined: give up every lease and go back to the backend's). */
export function useLeases(l: Leases | undefined): void {
  processLeases?.releaseAll();
  processLeases = l;
}
