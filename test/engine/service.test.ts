/**
 * The provisioning service end to end: a private PostgreSQL cluster (Debian's server binaries),
 * the service as its own process (HTTP API, job queue, git, the real engine with the policy pack),
 * a bare git repository as the config repository, the Hostwinds and Cloudflare stand-ins, a DNS
 * stand-in with a blocklist, and a webhook receiver checking signatures.
 *   acquire 2 IPs → assigned with IPs, DNS and warm-up; over budget → rejected, nothing bought;
 *   pause → the standby sends; release → released; ledger, state, git log and lifecycle agree.
 *   Killed (the whole process group, SIGKILL) at several points and restarted: each request ends
 *   in one terminal state, nothing is bought twice, no row is left mid-way.
 *   A token for one tenant can neither read nor change another.
 */
import { parseServerName, tenantTag } from "../../providers/hostwinds/inputs";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo } from "net";
import { Pool } from "pg";
import { devDir, projectRoot } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { DnsSim } from "../../scripts/dev/standins/dns";
import { PrivatePostgres, startPrivatePostgres } from "../../scripts/dev/postgres";
import { ConfigRepoFixture, ServiceProcess, makeConfigRepo, startServiceProcess } from "../../scripts/dev/service-harness";
import { standinEnv } from "../../scripts/dev/standins/env";
import { verifySignature } from "../../service/webhooks";
import { submitRequest } from "../../service/lifecycle";
import { insertRequest } from "../../service/store/requests";
import { prune } from "../../service/store/retention";
import { monitorOnce } from "../../service/monitor";
import { SshHostSim } from "../../scripts/dev/standins/ssh-host";
import { WARMUP_STATE } from "../../components/warmup-cap";
import { descendantsMatching } from "./harness";

const KEY = "sim-key-service-0123456789";
const CF_TOKEN = "sim-cf-token-service-0123456789";
const SECRET = "webhook-secret-for-tests";
const BACKEND = `service-${process.pid}`;
jest.setTimeout(12 * 60_000);

/** Server mx1 of tenant t as the provider names it in Hostwinds (`pm-<tenant>.<server>@<stack>`, providers/hostwinds/inputs.ts). */
// A server's name is its owner mark, hashes of its owner (providers/hostwinds/inputs.ts): the tenant's tag tells whose it is.
const isServer = (name: string, t: string) => parseServerName(name)?.tenantTag === tenantTag(t);

const tenant = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  tier: "growth",
  monthlyBudgetUsd: 25,
  zone: `${id}-mail.com`,
  domains: [{ name: `${id}-mail.com` }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 0, standbyIps: 1 }],
  warmup: "standard",
  ...over,
});

interface Req {
  id: string;
  status: string;
  failureReason: string | null;
  result: { bought: Array<{ ip: string; ptr?: string }>; released: string[]; nowSending?: string[] } | null;
  events?: Array<{ status: string }>;
  commit: string | null;
}

describe("the provisioning service", () => {
  let pg: PrivatePostgres;
  let db: Pool;
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let dnsSim: DnsSim;
  let repo: ConfigRepoFixture;
  let service: ServiceProcess;
  const blocklist = { listed: [] as string[], unknown: [] as string[] };
  const hooks: Array<{ body: Record<string, unknown>; valid: boolean }> = [];
  /** The receiver as a dead one: it takes the connection and never answers. */
  const dead = { on: false, held: [] as http.ServerResponse[] };
  let receiver: http.Server;
  let hookUrl = "";
  const dir = path.join(devDir, "work", `service-${process.pid}`);
  const tokens: Record<string, string> = {};

  const env = () => ({ ...standinEnv(sim, KEY, cf, CF_TOKEN), PENGUINMAILS_WEBHOOK_SECRET: SECRET });
  const serviceArgs = () => [
    "--database",
    pg.url,
    "--config-repo",
    repo.remote,
    "--clones",
    path.join(dir, "clones"),
    "--local-backend",
    BACKEND,
    "--concurrency",
    "2",
    "--webhook-url",
    hookUrl,
    "--monitor-every",
    "0",
    "--resolver",
    dnsSim.address,
    "--blocklists",
    "bl.test.invalid",
    "--no-smtp",
    // The servers here have no MailU: a domain's verification judges its MTA-STS TXT only (no policy fetch).
    "--no-mta-sts",
    "--dead-after",
    "2",
    // A delivery to the receiver that never answers hangs 10 minutes: the webhook test below judges by
    // order (the request settled while its deliveries hang), not by comparing times.
    "--webhook-timeout",
    "600",
  ];
  const start = async () => {
    service = await startServiceProcess(serviceArgs(), env());
  };
  const cli = (...args: string[]) =>
    execFileSync(process.execPath, [path.join(projectRoot, "dist/service/main.js"), ...args], {
      encoding: "utf8",
      env: { ...process.env, ...env() },
    }).trim();

  const api = async (token: string, method: string, p: string, body?: unknown) => {
    const res = await fetch(`${service.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const submit = async (t: string, kind: string, params: Record<string, unknown>) => {
    const r = await api(tokens.platform, "POST", `/tenants/${t}/requests`, { kind, params, requester: "test@platform" });
    expect(r.status).toBe(202);
    return r.body as unknown as Req;
  };
  const getReq = async (id: string) => (await api(tokens.platform, "GET", `/requests/${id}`)).body as unknown as Req;
  const settled = async (id: string, timeoutMs = 5 * 60_000): Promise<Req> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await getReq(id);
      if (["assigned", "released", "rejected", "failed", "cancelled"].includes(r.status)) return r;
      if (Date.now() > until) throw new Error(`request ${id} still ${r.status}\n${service.output().slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  const waitUntil = async (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 3 * 60_000) => {
    const until = Date.now() + timeoutMs;
    while (!(await ok())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${service.output().slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  const serverIds = (t: string) =>
    sim
      .inventory(KEY)
      .filter((s) => isServer(s.name, t))
      .map((s) => s.serviceId);
  const ledger = (t: string) => sim.ledger(KEY).filter((e) => serverIds(t).includes(e.serviceId));
  const ipsBought = (t: string) => ledger(t).filter((e) => e.kind === "ip" && e.event === "bought");
  const commitsFor = (id: string) =>
    execFileSync("git", ["--git-dir", repo.remote, "log", "main", "--format=%H", `--grep=^Request: ${id}$`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);

  beforeAll(async () => {
    pg = await startPrivatePostgres("service-test");
    db = new Pool({ connectionString: pg.url, max: 3 });
    // The outage test stops the server: an idle client's error must not fail the test process.
    db.on("error", () => undefined);
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 300 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
    for (const t of ["acme", "globex", "initech", "umbrella"]) cf.addZone(`${t}-mail.com`);
    dnsSim = await new DnsSim({
      records: () => cf.allRecords(),
      ptr: (ip) => sim.ptr(ip),
      blocklists: { "bl.test.invalid": blocklist },
    }).start();
    receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d));
      req.on("end", () => {
        if (dead.on) {
          dead.held.push(res);
          return;
        }
        hooks.push({
          body: JSON.parse(body) as Record<string, unknown>,
          valid: verifySignature(SECRET, body, req.headers["x-penguinmails-signature"] as string),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    repo = makeConfigRepo(path.join(dir, "repo"), [
      tenant("acme"),
      tenant("globex"),
      tenant("initech"),
      tenant("umbrella", {
        tier: "scale",
        monthlyBudgetUsd: 500,
        servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 0, standbyIps: 0 }],
      }),
    ]);
    tokens.platform = cli("token", "--database", pg.url, "--caller", "platform", "--tenants", "*");
    tokens.acme = cli("token", "--database", pg.url, "--caller", "acme-dashboard", "--tenants", "acme");
    tokens.globex = cli("token", "--database", pg.url, "--caller", "globex-dashboard", "--tenants", "globex");
    await start();
  });

  afterAll(async () => {
    await service?.stop().catch(() => undefined);
    for (const res of dead.held) res.destroy();
    await db?.end();
    await pg?.stop();
    await sim?.stop();
    await cf?.stop();
    await dnsSim?.stop();
    receiver?.close();
    fs.rmSync(path.join(devDir, "backends", BACKEND), { recursive: true, force: true });
  });

  test("the served OpenAPI document is the checked-in one", async () => {
    const served = await (await fetch(`${service.url}/openapi.json`)).json();
    expect(served).toEqual(JSON.parse(fs.readFileSync(path.join(projectRoot, "service/openapi.json"), "utf8")));
  });

  test("acquire 2 IPs → assigned, with the IPs, their DNS and warm-up; ledger, git, state and lifecycle agree", async () => {
    const r = await submit("acme", "acquire_ips", { server: "mx1", count: 2 });
    expect(r.status).toBe("requested");
    const done = await settled(r.id);
    expect(done.status).toBe("assigned");
    expect(done.events!.map((e) => e.status)).toEqual(["requested", "confirmed", "purchasing", "assigned"]);
    const bought = done.result!.bought.map((b) => b.ip);
    // the server, the standby the config already had, and the 2 asked for
    expect(
      ledger("acme")
        .filter((e) => e.event === "bought")
        .map((e) => e.kind),
    ).toEqual(["server", "ip", "ip", "ip"]);
    expect(bought).toHaveLength(3);
    expect(
      ipsBought("acme")
        .map((e) => e.ip)
        .sort(),
    ).toEqual([...bought].sort());
    // DNS: an A record per IP, SPF lists each
    const records = cf.records("acme-mail.com");
    for (const ip of bought) expect(records.some((x) => x.type === "A" && x.content === ip)).toBe(true);
    const spf = records.find((x) => x.type === "TXT" && x.name === "acme-mail.com")!.content;
    for (const ip of bought) expect(spf).toContain(`ip4:${ip}`);
    // git: one commit naming the request, changing acme's file to 2 sending IPs
    expect(commitsFor(r.id)).toHaveLength(1);
    expect(done.commit).toBe(commitsFor(r.id)[0]);
    expect((repo.readTenant("acme").servers as Array<{ sendingIps: number }>)[0].sendingIps).toBe(2);
    // the IPs as the platform sees them: PTR, role, warm-up day 1
    const ips = (await api(tokens.acme, "GET", "/tenants/acme/ips")).body.ips as Array<{
      ip: string;
      role: string;
      ptr: string;
      warmup: { day: number; maxMessages: number };
    }>;
    expect(ips.map((i) => [i.role, i.ptr]).sort()).toEqual([
      ["sending", "mx1-ip1.acme-mail.com"],
      ["sending", "mx1-ip2.acme-mail.com"],
      ["standby", "mx1-standby1.acme-mail.com"],
    ]);
    for (const i of ips) {
      expect(sim.ptr(i.ip)).toBe(i.ptr);
      expect(i.warmup.day).toBe(1);
      expect(i.warmup.maxMessages).toBeGreaterThan(0);
    }
    // the lifecycle table: one row per status with its timestamp
    const row = (await db.query("select * from service_requests where id = $1", [r.id])).rows[0];
    expect(row.requested_at <= row.confirmed_at && row.confirmed_at <= row.purchasing_at && row.purchasing_at <= row.assigned_at).toBe(
      true,
    );
    expect(row.domain).toBe("acme-mail.com");
    expect(row.hostwinds).toMatchObject({ server: "mx1", plan: 101, location: 1 });
    // webhooks: one per status change, signed
    await waitUntil("4 webhooks", () => hooks.filter((h) => (h.body.request as Req | undefined)?.id === r.id).length === 4);
    // deliveries run side by side: a receiver orders a tenant's events by their sequence number
    const mine = hooks
      .filter((h) => (h.body.request as Req | undefined)?.id === r.id)
      .sort((a, b) => (a.body.sequence as number) - (b.body.sequence as number));
    expect(mine.every((h) => h.valid)).toBe(true);
    expect(mine.map((h) => (h.body.request as Req).status)).toEqual(["requested", "confirmed", "purchasing", "assigned"]);
  });

  test("over budget → rejected with the policy's message; nothing bought, nothing committed", async () => {
    const before = ledger("acme").length;
    const r = await submit("acme", "acquire_ips", { server: "mx1", count: 2 });
    const done = await settled(r.id);
    expect(done.status).toBe("rejected");
    expect(done.failureReason).toMatch(
      /tenant acme \(growth\): the config costs \$29\.94\/month, over the budget of \$25\.00\/month by \$4\.94/,
    );
    expect(ledger("acme")).toHaveLength(before);
    expect(commitsFor(r.id)).toHaveLength(0);
  });

  test("a token for one tenant can neither read nor change another", async () => {
    const g = await submit("globex", "add_standby", { server: "mx1", count: 1 });
    expect((await api(tokens.acme, "GET", "/tenants/globex/ips")).status).toBe(403);
    expect((await api(tokens.acme, "GET", "/tenants/globex/requests")).status).toBe(403);
    expect(
      (await api(tokens.acme, "POST", "/tenants/globex/requests", { kind: "acquire_ips", params: { server: "mx1", count: 1 } })).status,
    ).toBe(403);
    expect((await api(tokens.acme, "GET", `/requests/${g.id}`)).status).toBe(404);
    expect(
      (
        await api(tokens.acme, "POST", "/usage", {
          records: [{ tenant: "globex", ip: "198.51.0.1", day: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10), sent: 1 }],
        })
      ).status,
    ).toBe(403);
    expect((await api(tokens.acme, "GET", "/unused?tenant=globex")).status).toBe(403);
    expect((await api(tokens.globex, "GET", `/requests/${g.id}`)).status).toBe(200);
    expect((await api("pmt_not-a-token", "GET", "/tenants/acme/ips")).status).toBe(401);
    // only the one request for globex exists, and nothing else changed globex
    const rows = (await db.query("select count(*)::int as n from service_requests where tenant = 'globex'")).rows[0];
    expect(rows.n).toBe(1);
    expect((await settled(g.id)).status).toBe("assigned");
  });

  test("pause → the standby sends in its place; release → released", async () => {
    const ips = (await api(tokens.acme, "GET", "/tenants/acme/ips")).body.ips as Array<{ ip: string; role: string; ptr: string }>;
    const ip1 = ips.find((i) => i.ptr.startsWith("mx1-ip1."))!.ip;
    const ip2 = ips.find((i) => i.ptr.startsWith("mx1-ip2."))!.ip;
    const standby = ips.find((i) => i.role === "standby")!.ip;
    const bought = ipsBought("acme").length;

    const pause = await settled((await submit("acme", "pause_ip", { ip: ip1 })).id);
    expect(pause.status).toBe("assigned");
    // Its up ran inline in the slot's long-lived engine worker (scripts/lib/stacks/engine-workers.ts), which stays.
    const workers = descendantsMatching(service.proc.pid!, "engine-worker.js");
    expect(workers.length).toBeGreaterThanOrEqual(1);
    expect(pause.events!.map((e) => e.status)).toEqual(["requested", "confirmed", "assigned"]);
    expect(pause.result!.nowSending!.sort()).toEqual([ip2, standby].sort());
    const after = (await api(tokens.acme, "GET", "/tenants/acme/ips")).body.ips as Array<{ ip: string; role: string }>;
    expect(after.find((i) => i.ip === ip1)!.role).toBe("paused");
    expect(after.find((i) => i.ip === standby)!.role).toBe("sending");
    expect(ipsBought("acme")).toHaveLength(bought);

    // ip1 is slot 1 of 2: only the last slot can be released
    const wrong = await settled((await submit("acme", "release_ip", { ip: ip1 })).id);
    expect(wrong.status).toBe("rejected");
    expect(wrong.failureReason).toMatch(/only the last slot \(.*\) can be released/);

    const release = await settled((await submit("acme", "release_ip", { ip: ip2 })).id);
    expect(release.status).toBe("released");
    expect(descendantsMatching(service.proc.pid!, "engine-worker.js")).toEqual(workers);
    expect(release.events!.map((e) => e.status)).toEqual(["requested", "confirmed", "releasing", "released"]);
    expect(release.result!.released).toEqual([ip2]);
    expect(
      ledger("acme")
        .filter((e) => e.event === "released")
        .map((e) => e.ip),
    ).toEqual([ip2]);
    const final = (await api(tokens.acme, "GET", "/tenants/acme/ips")).body.ips as Array<{ ip: string; status: string }>;
    expect(final.find((i) => i.ip === ip2)!.status).toBe("released");
    // the stand-in's inventory is what the service says is assigned
    const onServer = sim.inventory(KEY).find((s) => isServer(s.name, "acme"))!.ips;
    for (const i of final) expect(onServer.includes(i.ip)).toBe(i.status === "assigned");
  });

  test("usage: idle IPs listed with their cost and a suggested release; cost by tenant and month", async () => {
    const { rows } = await db.query<{ ip: string; role: string }>(
      "select ip, role from tenant_ips where tenant = 'acme' and status = 'assigned'",
    );
    // The IPs were got today; make them a month old, as the window needs.
    await db.query("update tenant_ips set since = now() - interval '30 days' where tenant = 'acme'");
    const days = Array.from({ length: 14 }, (_, i) => new Date(Date.now() - (i + 1) * 86_400_000).toISOString().slice(0, 10));
    const sending = rows.find((r) => r.role === "sending")!.ip;
    const records = days.flatMap((day) => rows.map((r) => ({ tenant: "acme", ip: r.ip, day, sent: r.ip === sending ? 400 : 0 })));
    expect((await api(tokens.acme, "POST", "/usage", { records })).body).toEqual({ recorded: records.length });
    const unused = (await api(tokens.acme, "GET", "/unused?tenant=acme&days=14")).body as {
      ips: Array<{ ip: string; monthlyUsd: number; suggestion: unknown }>;
      monthlySavingsUsd: number;
    };
    expect(unused.ips.map((i) => i.ip).sort()).toEqual(
      rows
        .filter((r) => r.ip !== sending)
        .map((r) => r.ip)
        .sort(),
    );
    expect(unused.ips.every((i) => i.monthlyUsd === 4.99)).toBe(true);
    expect(unused.monthlySavingsUsd).toBeCloseTo(4.99 * unused.ips.length);
    const cost = (await api(tokens.acme, "GET", "/reports/cost?tenant=acme&months=2")).body.rows as Array<{
      tenant: string;
      month: string;
      ips: number;
    }>;
    expect(cost.length).toBeGreaterThan(0);
    expect(cost.every((c) => c.tenant === "acme")).toBe(true);
  });

  test("killed at several points and restarted: one terminal state each, nothing bought twice, no row left mid-way", async () => {
    sim.setTiming({ buildMs: 200, ipDelayMs: 2500 });
    const boughtBefore = ipsBought("globex").length;
    // 1: right after the request is recorded (its job may have started)
    const a = await submit("globex", "acquire_ips", { server: "mx1", count: 1 });
    await service.crash();
    await start();
    // 2: once it is confirmed (committed and pushed), before the engine bought anything
    await waitUntil("confirmed", async () => (await getReq(a.id)).status !== "requested");
    await service.crash();
    await start();
    // 3: mid-purchase: the stand-in took the order, the IP has not arrived yet
    await waitUntil("a purchase", () => ipsBought("globex").length > boughtBefore);
    await service.crash();
    const b = await submit("globex", "acquire_ips", { server: "mx1", count: 1 }).catch(() => undefined);
    expect(b).toBeUndefined(); // the service is down: nothing accepted
    await start();
    const done = await settled(a.id);
    // what the restarted service said about the work it took over
    console.log(
      service
        .output()
        .split("\n")
        .filter((l) => /unlocked|cleared|attempt|request/.test(l))
        .join("\n"),
    );
    expect(done.status).toBe("assigned");
    sim.setTiming({ buildMs: 200, ipDelayMs: 300 });
    // one IP bought for the one asked, one commit, a consistent lifecycle
    expect(ipsBought("globex").length - boughtBefore).toBe(1);
    expect(commitsFor(a.id)).toHaveLength(1);
    const events = done.events!.map((e) => e.status);
    expect(events[0]).toBe("requested");
    expect(events[events.length - 1]).toBe("assigned");
    expect(events.filter((e) => ["assigned", "released", "rejected", "failed"].includes(e))).toHaveLength(1);
    const stuck = (
      await db.query("select id, status from service_requests where status not in ('assigned', 'released', 'rejected', 'failed')")
    ).rows;
    expect(stuck).toEqual([]);
    const onServer = sim.inventory(KEY).find((s) => isServer(s.name, "globex"))!.ips;
    const assigned = (await db.query<{ ip: string }>("select ip from tenant_ips where tenant = 'globex' and status = 'assigned'")).rows.map(
      (r) => r.ip,
    );
    // every IP the service says is assigned is on the server, and only the main IP besides
    for (const ip of assigned) expect(onServer).toContain(ip);
    expect(assigned).toHaveLength(onServer.length - 1);
  });

  test("another run holding the tenant's stack (the merge pipeline, a person's up): the request waits for it, then applies", async () => {
    // A lock as a live `pulumi up` on this host writes it (this test's own pid is alive).
    const locks = path.join(devDir, "backends", BACKEND, ".pulumi", "locks", "organization", "penguinmails-infra", "initech");
    fs.mkdirSync(locks, { recursive: true });
    const lock = path.join(locks, "00000000-human-up.json");
    fs.writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, username: "someone", hostname: os.hostname(), timestamp: new Date().toISOString() }),
    );
    const r = await submit("initech", "add_standby", { server: "mx1", count: 1 });
    await waitUntil("the wait", () => /stack is being updated by another run; waiting/.test(service.output()));
    await new Promise((res) => setTimeout(res, 6000));
    expect(["requested", "confirmed"]).toContain((await getReq(r.id)).status);
    expect(ledger("initech")).toEqual([]);
    fs.rmSync(lock);
    expect((await settled(r.id)).status).toBe("assigned");
  });

  test("monitoring: a listed IP raises an alert; with the emergency switch on, it is paused and its standby sends", async () => {
    await service.stop();
    const args = serviceArgs();
    args[args.indexOf("--monitor-every") + 1] = "1";
    service = await startServiceProcess(args, env());
    expect((await api(tokens.globex, "PUT", "/tenants/globex/settings", { autoEmergencySwitch: true })).status).toBe(200);
    const ips = (await api(tokens.globex, "GET", "/tenants/globex/ips")).body.ips as Array<{
      ip: string;
      role: string;
      lastCheck: unknown;
    }>;
    await waitUntil("a first check", async () =>
      ((await api(tokens.globex, "GET", "/tenants/globex/ips")).body.ips as Array<{ lastCheck: unknown }>).every((i) => i.lastCheck),
    );
    const bad = ips.find((i) => i.role === "sending")!.ip;
    blocklist.listed.push(bad);
    await waitUntil("an alert", () => hooks.some((h) => h.body.event === "ip.alert" && h.body.ip === bad && h.body.to === "listed"));
    await waitUntil("the switch request", () => hooks.some((h) => h.body.event === "ip.alert" && h.body.check === "emergency-switch"));
    const requestId = hooks.find((h) => h.body.check === "emergency-switch")!.body.requestId as string;
    const sw = await settled(requestId);
    expect(sw.status).toBe("assigned");
    const after = (await api(tokens.globex, "GET", "/tenants/globex/ips")).body.ips as Array<{
      ip: string;
      role: string;
      lastCheck: { blocklist: string };
    }>;
    expect(after.find((i) => i.ip === bad)).toMatchObject({ role: "paused", lastCheck: { blocklist: "listed" } });
    expect(after.filter((i) => i.role === "sending").length).toBeGreaterThan(0);

    // DNS served differently from the stack: a record changed by hand opens a `dns` incident within a few passes.
    const dmarc = cf.records("globex-mail.com").find((r) => r.type === "TXT" && r.name === "_dmarc.globex-mail.com")!;
    const kept = dmarc.content;
    dmarc.content = "v=DMARC1; p=none";
    try {
      await waitUntil(
        "a dns incident",
        async () =>
          (await db.query("select 1 from incidents where tenant = 'globex' and cause = 'dns' and status = 'open'")).rows.length > 0,
      );
      const [inc] = (await db.query("select summary from incidents where tenant = 'globex' and cause = 'dns'")).rows;
      expect(inc.summary).toContain("_dmarc.globex-mail.com");
    } finally {
      dmarc.content = kept;
    }
  });

  // ---- issue 23 ----

  const commitBody = (sha: string) =>
    execFileSync("git", ["--git-dir", repo.remote, "log", "-1", "--format=%B", sha], { encoding: "utf8" });

  test("a forged `Request:` trailer (LF, CR, U+2028) is refused by the API, and one slipped past it completes no other request", async () => {
    const probe = (
      await insertRequest(db, { tenant: "acme", requester: "probe", kind: "add_standby", params: { server: "mx1", count: 1 } })
    ).row;
    for (const sep of ["\n\n", "\r\r", "\u2028\u2028", "\r\n\r\n", "\u0085"]) {
      const r = await api(tokens.platform, "POST", "/tenants/umbrella/requests", {
        kind: "add_standby",
        params: { server: "mx1", count: 1 },
        requester: `x${sep}Request: ${probe.id}`,
      });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ code: "invalid_body" });
      expect((r.body.errors as Array<{ field: string }>).map((e) => e.field)).toContain("body.requester");
    }
    // The same text written straight to the database (as a bug elsewhere could): the commit names only its own request.
    const forged = await submitRequest(db, {
      tenant: "umbrella",
      requester: `x\n\nRequest: ${probe.id}\r\rRequest: ${probe.id}\u2028Request: ${probe.id}`,
      kind: "add_standby",
      params: { server: "mx1", count: 1 },
    });
    const done = await settled(forged.id);
    expect(done.status).toBe("assigned");
    const trailers = commitBody(done.commit!)
      .split(/\r\n|[\n\r\u2028\u2029\u0085]/)
      .filter((l) => /^Request:/.test(l));
    expect(trailers).toEqual([`Request: ${forged.id}`]);
    // the probe has no job: it is still requested, with no commit, and no webhook said otherwise
    const p = await getReq(probe.id);
    expect(p).toMatchObject({ status: "requested", commit: null });
    expect(hooks.some((h) => (h.body.request as Req | undefined)?.id === probe.id)).toBe(false);
    // and it can be cancelled (it is not purchasing)
    const cancel = await api(tokens.platform, "DELETE", `/requests/${probe.id}`);
    expect(cancel).toMatchObject({ status: 200, body: { status: "cancelled" } });
    expect((await api(tokens.platform, "DELETE", `/requests/${probe.id}`)).body).toMatchObject({ code: "not_cancellable" });
  });

  test("cancel: a request waiting in its tenant's queue is cancelled and never committed; idempotency keys replay or refuse", async () => {
    const headers = (key: string) => ({ "idempotency-key": key });
    const post = async (key: string, count: number) => {
      const res = await fetch(`${service.url}/tenants/umbrella/requests`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens.platform}`, "content-type": "application/json", ...headers(key) },
        body: JSON.stringify({ kind: "add_standby", params: { server: "mx1", count } }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const first = await post("k-first", 1);
    expect(first.status).toBe(202);
    const again = await post("k-first", 1);
    expect(again).toMatchObject({ status: 200, body: { id: first.body.id } });
    expect(await post("k-first", 2)).toMatchObject({ status: 422, body: { code: "idempotency_key_reused" } });
    // the second waits behind the first in umbrella's queue
    const second = await post("k-second", 1);
    const cancelled = await api(tokens.platform, "DELETE", `/requests/${second.body.id}`);
    expect(cancelled).toMatchObject({ status: 200, body: { status: "cancelled" } });
    expect((await settled(first.body.id as string)).status).toBe("assigned");
    const s = await settled(second.body.id as string);
    expect(s.status).toBe("cancelled");
    expect(s.commit).toBeNull();
    expect(commitsFor(second.body.id as string)).toHaveLength(0);
    // pages: one request at a time, each page's cursor leads to the next, no request twice
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await api(tokens.platform, "GET", `/tenants/umbrella/requests?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      seen.push(...(page.body.requests as Req[]).map((r) => r.id));
      cursor = page.body.nextCursor as string | null;
    }
    const n = (await db.query("select count(*)::int as n from service_requests where tenant = 'umbrella'")).rows[0].n;
    expect(new Set(seen).size).toBe(n);
  });

  test("webhooks: a receiver that never answers delays no request; events are numbered per tenant; undelivered ones are listed and sent again", async () => {
    // The receiver takes every delivery and never answers (each hangs up to --webhook-timeout, 10 minutes). A
    // request submitted once one hangs still settles, and its own events wait behind it: no request waits on a
    // webhook. Judged by order (the request settled while every delivery still hangs), never by comparing times.
    dead.on = true;
    await submit("globex", "acquire_ips", { server: "mx1", count: 4 });
    await waitUntil("a delivery hanging at the receiver that never answers", () => dead.held.length > 0);
    const r = await submit("acme", "acquire_ips", { server: "mx1", count: 4 });
    expect((await settled(r.id)).status).toBe("rejected");
    const hanging = dead.held.filter((res) => !res.writableEnded && !res.destroyed).length;
    console.log(`request settled with ${hanging} of ${dead.held.length} webhook deliveries still hanging at the receiver`);
    expect(hanging).toBe(dead.held.length);
    // the receiver drops the hanging deliveries: each fails and is tried again later
    for (const res of dead.held.splice(0)) res.destroy();
    // undelivered events are listed with their error
    await waitUntil("a failed delivery", async () => {
      const u = await api(tokens.platform, "GET", "/webhooks/undelivered?tenant=acme");
      return (u.body.events as Array<{ attempts: number; lastError: string | null }>).some((e) => e.attempts > 0 && e.lastError);
    });
    dead.on = false;
    for (const res of dead.held.splice(0)) res.destroy();
    const u = (await api(tokens.acme, "GET", "/webhooks/undelivered")).body.events as Array<{
      id: number;
      tenant: string;
      sequence: number;
    }>;
    expect(u.length).toBeGreaterThan(0);
    expect(u.every((e) => e.tenant === "acme")).toBe(true);
    const target = u[0];
    expect((await api(tokens.acme, "POST", `/webhooks/${target.id}/redeliver`, {})).status).toBe(202);
    await waitUntil("the redelivery", () => hooks.some((h) => h.body.id === target.id));
    // every tenant's events carry distinct, increasing numbers
    const acme = hooks.filter(
      (h) => (h.body.request as Req | undefined)?.id && (h.body as { request: { tenant: string } }).request.tenant === "acme",
    );
    const seqs = acme.map((h) => h.body.sequence as number);
    expect(seqs.every((x) => Number.isInteger(x) && x > 0)).toBe(true);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  test("usage: 10,000 records in one statement (its time printed); all or nothing; only the tenant's own IPs; no future days", async () => {
    // 120 IPs of tenant bulk, as a stack's outputs would have recorded them
    const ips = Array.from({ length: 120 }, (_, i) => `203.0.${Math.floor(i / 100)}.${(i % 100) + 1}`);
    await db.query(
      `insert into tenant_ips (tenant, ip, server, role, slot, ptr, status) select 'bulk', ip, 'mx1', 'sending', 1, 'x', 'assigned' from unnest($1::text[]) ip`,
      [ips],
    );
    const bulk = cli("token", "--database", pg.url, "--caller", "bulk-reporter", "--tenants", "bulk");
    const days = Array.from({ length: 84 }, (_, i) => new Date(Date.now() - (i + 1) * 86_400_000).toISOString().slice(0, 10));
    const records = days.flatMap((day) => ips.map((ip) => ({ tenant: "bulk", ip, day, sent: 5 }))).slice(0, 10_000);
    const count = async () => (await db.query("select count(*)::int as n from ip_usage where tenant = 'bulk'")).rows[0].n as number;
    // one foreign IP among 3,000: nothing written, the record named
    const bad = records.slice(0, 3000).map((r, i) => (i === 2999 ? { ...r, ip: "198.51.100.77" } : r));
    const refused = await api(bulk, "POST", "/usage", { records: bad });
    expect(refused).toMatchObject({ status: 400, body: { code: "invalid_body" } });
    expect((refused.body.errors as Array<{ field: string }>)[0].field).toBe("body.records.2999.ip");
    expect(await count()).toBe(0);
    const future = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    const f = await api(bulk, "POST", "/usage", { records: [{ ...records[0], day: future }] });
    expect((f.body.errors as Array<{ field: string }>)[0].field).toBe("body.records.0.day");
    const t0 = Date.now();
    const ok = await api(bulk, "POST", "/usage", { records });
    const ms = Date.now() - t0;
    // Its speed is a figure (under 1 s on a machine with a core to spare), not an assertion: this machine is shared.
    console.log(
      `POST /usage of ${records.length} records: ${ms} ms (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores)`,
    );
    expect(ok.body).toEqual({ recorded: 10_000 });
    expect(await count()).toBe(10_000);
  });

  test("the emergency switch is judged every pass: listed before opting in, no free standby → an incident every pass; a standby added → switched", async () => {
    const ip = "192.0.2.50";
    await db.query(
      "insert into tenant_ips (tenant, ip, server, role, slot, ptr, status) values ('switchy', $1, 'mx1', 'sending', 1, 'mx1-ip1.switchy.test', 'assigned')",
      [ip],
    );
    blocklist.listed.push(ip);
    const o = { resolver: dnsSim.address, blocklists: ["bl.test.invalid"], smtp: false as const };
    const pass = async () => {
      // the service's own monitor may be mid-pass (one at a time): wait for ours
      while (!(await monitorOnce(db, o))) await new Promise((res) => setTimeout(res, 200));
    };
    const incidents = async () =>
      (await db.query("select count(*)::int as n from webhook_deliveries where tenant = 'switchy' and body->>'level' = 'incident'")).rows[0]
        .n as number;
    await pass();
    expect(await incidents()).toBe(0); // not opted in: an alert only
    await db.query("insert into tenant_settings (tenant, auto_emergency_switch) values ('switchy', true)");
    await pass();
    const first = await incidents();
    expect(first).toBeGreaterThanOrEqual(1);
    await pass();
    expect(await incidents()).toBeGreaterThan(first);
    await db.query(
      "insert into tenant_ips (tenant, ip, server, role, slot, ptr, status) values ('switchy', '192.0.2.51', 'mx1', 'standby', 1, 'mx1-standby1.switchy.test', 'assigned')",
    );
    await pass();
    const pause = (
      await db.query("select id from service_requests where tenant = 'switchy' and kind = 'pause_ip' and params->>'ip' = $1", [ip])
    ).rows;
    expect(pause).toHaveLength(1);
    blocklist.listed.splice(blocklist.listed.indexOf(ip), 1);
    await db.query("update tenant_ips set status = 'released' where tenant = 'switchy'");
    // switchy has no stack file: the request ends rejected, and nothing is left open
    expect((await settled(pause[0].id)).status).toBe("rejected");
  });

  test("reputation: usage reports carrying complaints lower the score below the tenant's threshold and trigger the switch, never onto a listed standby", async () => {
    const [a, b] = ["192.0.2.60", "192.0.2.61"];
    await db.query(
      `insert into tenant_ips (tenant, ip, server, role, slot, ptr, status) values
         ('reputy', $1, 'mx1', 'sending', 1, 'mx1-ip1.reputy.test', 'assigned'),
         ('reputy', $2, 'mx1', 'standby', 1, 'mx1-standby1.reputy.test', 'assigned')`,
      [a, b],
    );
    blocklist.listed.push(b);
    const o = { resolver: dnsSim.address, blocklists: ["bl.test.invalid"], smtp: false as const };
    const pass = async () => {
      while (!(await monitorOnce(db, o))) await new Promise((res) => setTimeout(res, 200));
    };
    const bad = await api(tokens.platform, "PUT", "/tenants/reputy/settings", { autoEmergencySwitch: true, switchBelowScore: 101 });
    expect(bad.status).toBe(400);
    expect((bad.body.errors as Array<{ field: string }>).map((e) => e.field)).toEqual(["body.switchBelowScore"]);
    const saved = await api(tokens.platform, "PUT", "/tenants/reputy/settings", { autoEmergencySwitch: true, switchBelowScore: 70 });
    expect(saved.body).toEqual({ tenant: "reputy", autoEmergencySwitch: true, switchBelowScore: 70 });
    const day = new Date().toISOString().slice(0, 10);
    const usage = (bounced: number, complained: number) =>
      api(tokens.platform, "POST", "/usage", { records: [{ tenant: "reputy", ip: a, day, sent: 1000, bounced, complained }] });
    const refused = await api(tokens.platform, "POST", "/usage", { records: [{ tenant: "reputy", ip: a, day, sent: 10, bounced: 11 }] });
    expect(refused.status).toBe(400);
    expect((refused.body.errors as Array<{ field: string }>).map((e) => e.field)).toEqual(["body.records.0.bounced"]);
    const pauses = async () =>
      (await db.query("select id from service_requests where tenant = 'reputy' and kind = 'pause_ip' and params->>'ip' = $1", [a])).rows;
    const ipOf = async (ip: string) =>
      (
        (await api(tokens.platform, "GET", "/tenants/reputy/ips")).body.ips as Array<{
          ip: string;
          warmup: { sentToday: number };
          reputation: { score: number; inputs: { complaintRate: number; blocklists: Array<{ verdict: string }> } };
        }>
      ).find((i) => i.ip === ip)!;

    expect((await usage(5, 0)).status).toBe(200);
    await pass();
    expect(await ipOf(a)).toMatchObject({ warmup: { sentToday: 1000 }, reputation: { score: 100, inputs: { complaintRate: 0 } } });
    expect(await pauses()).toHaveLength(0);

    expect((await usage(5, 10)).status).toBe(200); // 1% complaints
    await pass();
    expect((await ipOf(a)).reputation).toMatchObject({ score: 50, inputs: { complaintRate: 0.01 } });
    expect(await pauses()).toHaveLength(0); // its standby is listed itself: an incident, no switch
    const incident = await db.query(
      "select 1 from webhook_deliveries where tenant = 'reputy' and body->>'level' = 'incident' and body->>'detail' like $1",
      [
        `%${a} has a reputation score 50 below 70 and still sending, not switched: server mx1 has one free standby, ${b}, and it is listed itself%`,
      ],
    );
    expect(incident.rowCount).toBeGreaterThanOrEqual(1);

    blocklist.listed.splice(blocklist.listed.indexOf(b), 1);
    await pass();
    expect(await pauses()).toHaveLength(1);
    const hook = await db.query(
      "select body from webhook_deliveries where tenant = 'reputy' and body->>'check' = 'emergency-switch' and body ? 'requestId'",
    );
    expect(hook.rows[0].body).toMatchObject({ ip: a, standby: b, reason: "score 50 below 70" });
    const history = (await api(tokens.platform, "GET", `/tenants/reputy/ips/${a}/reputation`)).body.days as Array<{
      day: string;
      score: number;
      lowest: number;
    }>;
    expect(history).toEqual([expect.objectContaining({ day, score: 50, lowest: 50 })]);
    await db.query("update tenant_ips set status = 'released' where tenant = 'reputy'");
    // reputy has no stack file: the request ends rejected, and nothing is left open
    expect((await settled((await pauses())[0].id)).status).toBe("rejected");
  });

  // A server of the tenant as the SSH-host stand-in runs it (real sshd login, real bash, df and /proc/meminfo in a
  // Debian root filesystem); the relay's Postfix is not installed there, so `postconf` is a stand-in answering in
  // postconf(1)'s formats (`-h`: the value alone; `-P`: `service/type/parameter = value`) and the held mail is what the
  // warm-up policy leaves (components/warmup-cap.ts: the held list, one file per message in the queue's hold folder).
  const sshUnavailable = SshHostSim.unavailableReason();
  (sshUnavailable ? test.skip : test)(
    "server checks over SSH: mail held on the relay over the threshold opens a held-mail incident, shown per IP, resolved once released; a server that does not answer is unreachable",
    async () => {
      const hosts = new SshHostSim({ dir: path.join(dir, "ssh-hosts") });
      const password = "sim-root-password-hosty-0123";
      const host = hosts.addHost(9001, password);
      await hosts.ready();
      const ip = "192.0.2.70";
      try {
        const setup = await hosts.run(
          host,
          `set -e
mkdir -p /var/spool/postfix/hold ${WARMUP_STATE}
printf '%s\n' '#!/bin/sh' 'case "$1" in -h) echo /var/spool/postfix ;; -P) echo "pm-mx1-ip1/unix/smtp_bind_address = ${ip}" ;; esac' >/usr/sbin/postconf
chmod 755 /usr/sbin/postconf
for id in 4A1 4A2 4A3; do : >/var/spool/postfix/hold/$id; echo "$id 1 pm-mx1-ip1 news@hosty-mail.com" >>${WARMUP_STATE}/held; done`,
        );
        expect(setup).toMatchObject({ code: 0 });
        await db.query(
          "insert into tenant_ips (tenant, ip, server, role, slot, ptr, status) values ('hosty', $1, 'mx1', 'sending', 1, 'mx1-ip1.hosty.test', 'assigned')",
          [ip],
        );
        await db.query(
          "insert into tenant_servers (tenant, server, hostname, main_ip) values ('hosty', 'mx1', 'mx1.hosty.test', $1), ('hosty', 'mx2', 'mx2.hosty.test', '192.0.2.71')",
          [host],
        );
        const o = {
          resolver: dnsSim.address,
          blocklists: ["bl.test.invalid"],
          smtp: false as const,
          servers: {
            limits: { heldMailOver: 2 },
            dialAttempts: 1,
            // mx1: the stand-in host; mx2: nothing listens there (port 1 of loopback refuses).
            connect: async (t: string, server: string) =>
              t !== "hosty"
                ? undefined
                : server === "mx1"
                  ? { connection: { host, port: 22, user: "root", password }, redact: [] }
                  : { connection: { host: "127.0.0.1", port: 1, user: "root", password }, redact: [] },
          },
        };
        const pass = async () => {
          while (!(await monitorOnce(db, o))) await new Promise((res) => setTimeout(res, 200));
        };
        const incident = async (cause: string) =>
          (await db.query("select id, status from incidents where tenant = 'hosty' and cause = $1 order by id desc limit 1", [cause]))
            .rows[0] as { id: string; status: string } | undefined;
        const held = async () =>
          (
            (await api(tokens.platform, "GET", "/tenants/hosty/ips")).body.ips as Array<{
              ip: string;
              warmup: { heldOnRelay: number | null };
            }>
          )[0].warmup.heldOnRelay;
        expect(await held()).toBeNull(); // no check yet
        await pass();
        expect(await held()).toBe(3);
        expect(await incident("held-mail")).toBeUndefined(); // one failing pass opens nothing (flapping filter)
        await pass();
        const opened = await incident("held-mail");
        expect(opened).toMatchObject({ status: "open" });
        expect(await incident("unreachable")).toMatchObject({ status: "open" });
        const timeline = (await db.query("select kind, detail from incident_events where incident_id = $1 order by id", [opened!.id])).rows;
        expect(timeline[0]).toMatchObject({ kind: "opened" });
        expect(timeline.some((e) => e.kind === "check" && /3 message\(s\) held or deferred on the relay/.test(e.detail))).toBe(true);
        const checked = (await db.query("select last_check from tenant_servers where tenant = 'hosty' and server = 'mx1'")).rows[0]
          .last_check;
        expect(checked.memory.totalKb).toBeGreaterThan(0);
        expect(checked.disks[0]).toMatchObject({ mount: "/" });

        // The mail is released (the warm-up job's postsuper -H moves it out of hold): two passing passes resolve it.
        expect((await hosts.run(host, "rm -f /var/spool/postfix/hold/*")).code).toBe(0);
        await pass();
        expect(await held()).toBe(0);
        await pass();
        expect(await incident("held-mail")).toMatchObject({ id: opened!.id, status: "resolved" });
        const last = (await db.query("select kind from incident_events where incident_id = $1 order by id desc limit 1", [opened!.id]))
          .rows[0];
        expect(last.kind).toBe("resolved");
      } finally {
        await db.query("delete from tenant_servers where tenant = 'hosty'");
        await db.query("update tenant_ips set status = 'released' where tenant = 'hosty'");
        await hosts.stop();
      }
    },
  );

  test("start-up does the slow work: the toolchain is ready before the service listens", () => {
    const out = service.output();
    expect(out.indexOf("toolchain ready")).toBeGreaterThanOrEqual(0);
    expect(out.indexOf("toolchain ready")).toBeLessThan(out.indexOf("listening on"));
  });

  test("retention: monitoring results and delivered webhooks older than the kept days are pruned; undelivered ones stay", async () => {
    await db.query(
      "insert into monitor_results (tenant, ip, check_name, status, detail, at) values ('old', '192.0.2.1', 'blocklist', 'pass', 'x', now() - interval '100 days')",
    );
    const { rows } = await db.query<{ id: string }>(
      `insert into webhook_deliveries (kind, tenant, body, created_at, delivered_at) values
         ('ip.alert', 'old', '{}', now() - interval '100 days', now() - interval '100 days'),
         ('ip.alert', 'old', '{}', now() - interval '100 days', null) returning id`,
    );
    const n = await prune(db, 90);
    expect(n.monitorResults).toBeGreaterThanOrEqual(1);
    expect(n.webhooks).toBeGreaterThanOrEqual(1);
    const left = (await db.query("select id, delivered_at from webhook_deliveries where tenant = 'old'")).rows;
    expect(left.map((r) => r.id)).toEqual([rows[1].id]);
    expect((await db.query("select 1 from monitor_results where tenant = 'old'")).rowCount).toBe(0);
  });

  test("/ready with the database up (503 while it is down: service-outage.test.ts); tokens are listed, expire and are revoked", async () => {
    expect((await fetch(`${service.url}/ready`)).status).toBe(200);
    const made = await api(tokens.platform, "POST", "/tokens", { caller: "short-lived", tenants: ["acme"], expiresInDays: 1 });
    expect(made.status).toBe(201);
    const listed = (await api(tokens.acme, "GET", "/tokens")).body.tokens as Array<{ id: number; caller: string }>;
    expect(listed.some((t) => t.caller === "short-lived")).toBe(true);
    expect((await api(made.body.token as string, "GET", "/tenants/acme/ips")).status).toBe(200);
    await db.query("update api_tokens set expires_at = now() - interval '1 second' where id = $1", [made.body.id]);
    expect((await api(made.body.token as string, "GET", "/tenants/acme/ips")).status).toBe(401);
    const other = await api(tokens.platform, "POST", "/tokens", { caller: "revoked-one", tenants: ["acme"] });
    expect((await api(tokens.acme, "DELETE", `/tokens/${other.body.id}`)).status).toBe(200);
    expect((await api(other.body.token as string, "GET", "/tenants/acme/ips")).status).toBe(401);
  });

  // A Postgres outage at each step of a request (30 s; 5 min opt-in): test/engine/service-outage.test.ts.
});
