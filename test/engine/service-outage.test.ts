/**
 * The provisioning service through a Postgres outage at each step of a request (issue 23, item 2).
 * The private cluster is stopped (`pg_ctl stop`, immediate as a crash, or fast as an operator's
 * shutdown) the moment the step is seen, never after a guessed delay:
 *   requested   the POST answered (the row and its job written), the job not yet run;
 *   committing  the change's push held at the config repository (a pre-receive hook), its sha recorded;
 *   confirmed   the row says confirmed, the engine starting;
 *   purchasing  the Hostwinds stand-in took the IP's order, the IP not arrived;
 *   recording   the engine finished, the domains' verification asking DNS (held), the result not recorded;
 *   webhook     a delivery of the request's event at the receiver, answered while the database is down.
 * The database stays down OUTAGE_MS (below: 10 s, or 5 min with PENGUINMAILS_LONG_OUTAGE=1: six
 * steps of it take over half an hour, too long for the suite), then starts again. Afterwards: every request terminal,
 * the tenant's IP rows are the stand-in's ledger (IPs bought = the slots the config asks), every
 * webhook delivered, and the tenant's next request runs (each step's request is the previous
 * step's next one; a last one follows the last step). Each step's recovery (Postgres back → all
 * terminal) is printed, not asserted.
 */
import { parseServerName, tenantTag } from "../../providers/hostwinds/inputs";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { Pool } from "pg";
import { DnsSim } from "../../scripts/dev/standins/dns";
import { ServiceEnvironment, startServiceEnvironment } from "../../scripts/dev/service-harness";

const LONG = !!process.env.PENGUINMAILS_LONG_OUTAGE;
/**
 * How long the queue's heartbeat may be silent before a process is taken for dead (the service's
 * --dead-after; it heartbeats every third of it). The long variant keeps the default (30 s).
 */
const DEAD_AFTER_S = LONG ? 30 : 3;
/**
 * The shortest outage that still takes every waiting path this test is about, each outlasted:
 * - the pool has no connection timeout to wait out: a stopped cluster's socket is gone, so every
 *   connect fails at once (ENOENT) and each retry loop below runs round after round;
 * - an apply's write waits in untilDatabase (scripts/lib/postgres/outage.ts), whose back-off
 *   reaches its 5 s ceiling after 0.5 + 1 + 2 + 4 = 7.5 s;
 * - the queue's heartbeat (every DEAD_AFTER_S / 3 s) fails several times (asserted below), and
 *   when the database returns this process's heartbeat there is older than DEAD_AFTER_S (3 + 1 s)
 *   and the jobs it holds were locked longer than the dead-worker sweep's 5 s grace: the case
 *   where a sweep once took its own process's locks for dead (scripts/lib/postgres/index.ts,
 *   localInstances and localLocks);
 * - graphile-worker's LISTEN client reconnects with its back-off (0.1, 0.4, 1, 2.7, 7.4 s…)
 *   while the workers keep polling.
 * 10 s covers all of them (the 30 s before waited out the default --dead-after of 30 s for the
 * same path). The long variant is an operator's outage with the default settings.
 */
const OUTAGE_MS = LONG ? 5 * 60_000 : 10_000;
const SECRET = "webhook-secret-for-outages";
const TENANT = "umbrella";
const TERMINAL = ["assigned", "released", "rejected", "failed", "cancelled"];
jest.setTimeout(OUTAGE_MS + 25 * 60_000);

interface Step {
  name: string;
  mode: "immediate" | "fast";
  /** Set the trap before the request is sent. */
  arm?: () => void | Promise<void>;
  /** Resolves when the request is at the step. */
  reached: (id: string) => Promise<void>;
  /** Let the step go on once the database is down. */
  let?: () => void;
  disarm?: () => void;
  /** What else the step must have kept, given when its request was sent. */
  kept?: (sentAt: Date) => Promise<void>;
}

describe("Postgres stopped at each step of a request", () => {
  let env: ServiceEnvironment;
  let db: Pool;
  let dnsSim: DnsSim;
  let receiver: http.Server;
  const hooks: Array<{ requestId?: string; status?: string }> = [];
  /** While armed, the next delivery is held (not answered) in `held`. */
  const hold: { armed?: boolean; held?: http.ServerResponse } = {};
  const gate = fs.mkdtempSync(path.join(os.tmpdir(), "outage-push-gate-"));
  const recoveries: Array<{ step: string; mode: string; ms: number; delivered: number }> = [];

  const waitUntil = async (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 10 * 60_000, everyMs = 100) => {
    const until = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${env.service.output().slice(-3000)}`);
      await new Promise((res) => setTimeout(res, everyMs));
    }
  };
  const status = async (id: string) =>
    (await db.query<{ status: string }>("select status from service_requests where id = $1", [id])).rows[0]?.status;
  const ledger = () => {
    const mine = new Set(
      env.sim
        .inventory(env.hostwindsKey)
        .filter((s) => parseServerName(s.name)?.tenantTag === tenantTag(TENANT))
        .map((s) => s.serviceId),
    );
    return env.sim.ledger(env.hostwindsKey).filter((e) => mine.has(e.serviceId) && e.kind === "ip");
  };
  /** The IPs the stand-in's ledger says the tenant holds (bought, not released). */
  const heldIps = () => {
    const l = ledger();
    const released = new Set(l.filter((e) => e.event === "released").map((e) => e.ip));
    return l.filter((e) => e.event === "bought" && !released.has(e.ip)).map((e) => e.ip!);
  };
  const submit = async () => {
    const r = await env.api<{ id: string }>("POST", `/tenants/${TENANT}/requests`, {
      kind: "acquire_ips",
      params: { server: "mx1", count: 1 },
      requester: "outage-test@platform",
    });
    expect(r.status).toBe(202);
    return r.body.id;
  };
  /** Every request terminal, the tenant's rows the ledger, the ledger the config's slots, every webhook delivered. */
  const consistent = async () => {
    const open = (await db.query("select id, status from service_requests where status <> all($1)", [TERMINAL])).rows;
    expect(open).toEqual([]);
    const rows = (
      await db.query<{ ip: string }>("select ip from tenant_ips where tenant = $1 and status = 'assigned' order by ip", [TENANT])
    ).rows.map((r) => r.ip);
    expect(rows).toEqual(heldIps().sort());
    const server = (env.repo.readTenant(TENANT).servers as Array<{ sendingIps: number; standbyIps: number }>)[0];
    expect(heldIps()).toHaveLength(server.sendingIps + server.standbyIps);
  };
  const undelivered = async (id: string) =>
    (
      await db.query<{ n: number }>(
        "select count(*)::int as n from webhook_deliveries where body->'request'->>'id' = $1 and delivered_at is null",
        [id],
      )
    ).rows[0].n;

  beforeAll(async () => {
    dnsSim = await new DnsSim({ records: () => env.cf.allRecords(), ptr: (ip) => env.sim.ptr(ip) }).start();
    receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d));
      req.on("end", () => {
        const b = JSON.parse(body) as { request?: { id: string; status: string } };
        if (hold.armed) {
          hold.armed = false;
          hold.held = res;
          return;
        }
        hooks.push({ requestId: b.request?.id, status: b.request?.status });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    env = await startServiceEnvironment({
      name: "outage",
      tenants: [
        {
          id: TENANT,
          tier: "scale",
          monthlyBudgetUsd: 500,
          zone: `${TENANT}-mail.com`,
          domains: [{ name: `${TENANT}-mail.com` }],
          servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 0, standbyIps: 0 }],
          warmup: "standard",
        },
      ],
      args: () => [
        "--webhook-url",
        hookUrl,
        "--resolver",
        dnsSim.address,
        "--resolvers",
        dnsSim.address,
        "--authoritative",
        dnsSim.address,
        "--no-smtp",
        "--dead-after",
        String(DEAD_AFTER_S),
      ],
      env: { PENGUINMAILS_WEBHOOK_SECRET: SECRET },
    });
    db = new Pool({ connectionString: env.pg.url, max: 2 });
    // The cluster is stopped on purpose: an idle client's error must not fail the test process.
    db.on("error", () => undefined);
  });

  afterAll(async () => {
    console.log(
      `Postgres down ${OUTAGE_MS / 1000} s at each step; Postgres back → every request terminal (→ its webhooks delivered), load ${os.loadavg()[0].toFixed(0)}:\n` +
        recoveries
          .map((r) => `  ${r.step.padEnd(12)} ${r.mode.padEnd(9)} ${(r.ms / 1000).toFixed(1)} s (${(r.delivered / 1000).toFixed(1)} s)`)
          .join("\n"),
    );
    hold.held?.destroy();
    dnsSim?.release();
    await db?.end();
    await env?.stop();
    await dnsSim?.stop();
    receiver?.close();
    fs.rmSync(gate, { recursive: true, force: true });
  });

  const hookFile = () => path.join(env.repo.remote, "hooks", "pre-receive");
  const steps: Step[] = [
    {
      name: "requested",
      mode: "immediate",
      reached: async () => undefined, // the POST's answer: the row and its job are written
    },
    {
      name: "committing",
      mode: "fast",
      arm: () => {
        fs.rmSync(path.join(gate, "pushing"), { force: true });
        fs.rmSync(path.join(gate, "go"), { force: true });
        fs.writeFileSync(
          hookFile(),
          `#!/bin/sh\ncat >/dev/null\n: > '${gate}/pushing'\nwhile [ ! -f '${gate}/go' ]; do sleep 0.2; done\n`,
          { mode: 0o755 },
        );
      },
      reached: () => waitUntil("the push", () => fs.existsSync(path.join(gate, "pushing"))),
      let: () => fs.writeFileSync(path.join(gate, "go"), ""),
      disarm: () => fs.rmSync(hookFile(), { force: true }),
    },
    {
      name: "confirmed",
      mode: "immediate",
      reached: (id) => waitUntil("confirmed", async () => (await status(id)) === "confirmed", undefined, 50),
    },
    {
      name: "purchasing",
      mode: "immediate",
      arm: () => env.sim.setTiming({ buildMs: 200, ipDelayMs: 6000 }),
      reached: async () => {
        const before = ledger().length;
        await waitUntil("the IP's order", () => ledger().length > before);
      },
      disarm: () => env.sim.setTiming({ buildMs: 200, ipDelayMs: 300 }),
    },
    {
      name: "recording",
      mode: "fast",
      arm: () => {
        dnsSim.holding = true;
      },
      reached: async () => {
        const before = dnsSim.queries;
        await waitUntil("the domains' verification", () => dnsSim.queries > before);
      },
      let: () => dnsSim.release(),
      kept: async (sentAt) => {
        // the verdict judged while the database was away is recorded when it returns, not lost
        const rows = (await db.query<{ checked_at: Date | null }>("select checked_at from tenant_domains where tenant = $1", [TENANT]))
          .rows;
        expect(rows.length).toBeGreaterThan(0);
        for (const r of rows) expect(r.checked_at!.getTime()).toBeGreaterThan(sentAt.getTime());
      },
    },
    {
      name: "webhook",
      mode: "immediate",
      arm: () => {
        hold.armed = true;
      },
      reached: () => waitUntil("a delivery", () => !!hold.held),
      let: () => hold.held!.writeHead(204).end(),
    },
  ];

  test.each(steps.map((s) => [s.name, s] as const))("stopped at %s, for the outage's length: recorded when it returns", async (_, s) => {
    await s.arm?.();
    const before = heldIps();
    const sentAt = new Date();
    const id = await submit();
    await s.reached(id);
    const said = env.service.output().length;
    await env.pg.halt(s.mode);
    try {
      expect((await fetch(`${env.service.url}/ready`)).status).toBe(503);
      s.let?.();
      // the outage's length is what is tested, not a guess at how long something takes
      await new Promise((res) => setTimeout(res, OUTAGE_MS));
    } finally {
      await env.pg.resume();
    }
    const back = Date.now();
    // the outage outlasted the queue's heartbeat (see OUTAGE_MS): it failed while the database was away
    expect(env.service.output().slice(said)).toMatch(/queue: heartbeat failed/);
    const done = await env.settle(id);
    const ms = Date.now() - back;
    await waitUntil("every webhook of the request delivered", async () => (await undelivered(id)) === 0, 10 * 60_000, 250);
    recoveries.push({ step: s.name, mode: s.mode, ms, delivered: Date.now() - back });
    s.disarm?.();
    console.log(
      `${s.name} (${s.mode}): ${done.status} ${(ms / 1000).toFixed(1)} s after Postgres came back\n` +
        env.service
          .output()
          .split("\n")
          .filter((l) => /unreachable|database is back|stopped \(|unlocked|ended|replaced|heartbeat failed/.test(l))
          .slice(-8)
          .join("\n"),
    );
    expect(done.status).toBe("assigned");
    const bought = heldIps().filter((ip) => !before.includes(ip));
    expect(bought).toHaveLength(1);
    expect(done.result!.bought.map((b) => b.ip)).toEqual(bought);
    await consistent();
    await s.kept?.(sentAt);
  });

  test("afterwards the tenant's next request runs, and rows = ledger", async () => {
    const id = await submit();
    expect((await env.settle(id)).status).toBe("assigned");
    await waitUntil("every webhook of the request delivered", async () => (await undelivered(id)) === 0, 10 * 60_000, 250);
    await consistent();
    // a receiver may see an event twice (answered while the database was down), never miss one
    expect(new Set(hooks.filter((h) => h.status === "assigned").map((h) => h.requestId)).size).toBe(steps.length + 1);
  });
});
