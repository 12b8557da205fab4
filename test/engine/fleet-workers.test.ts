/**
 * Fleet jobs on the Postgres queue and API budgets shared between processes, on a private
 * Postgres cluster: two `fleet worker` processes take the previews of three tenants that
 * `fleet preview --queue` put on the queue, and the report is the one a local run prints; two
 * separate processes spending one Cloudflare token stay under the stand-in's limit only when
 * their budget is the shared one in Postgres; a bad program change rolled out in waves through the
 * queue stops in the first wave, mid-way: the jobs not yet taken are removed and reported as not run.
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Pool } from "pg";
import { devDir, projectRoot, workDirFor } from "../../scripts/lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../../scripts/dev/fleet-project";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { PrivatePostgres, startPrivatePostgres } from "../../scripts/dev/postgres";
import { standinEnv } from "../../scripts/dev/standins/env";
import { ENGINE_TEST_CEILING_MS } from "./harness";

const KEY = "sim-key-fleet-workers-0123456789";
const CF_TOKEN = "sim-cf-token-fleet-workers-0123456789";
const BACKEND = `fleet-workers-${process.pid}`;
jest.setTimeout(ENGINE_TEST_CEILING_MS);

describe("fleet workers on the Postgres queue", () => {
  let pg: PrivatePostgres;
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  const workers: ChildProcess[] = [];
  const dir = workDirFor(`fleet-workers-${process.pid}`);
  const env = () => ({
    ...process.env,
    ...standinEnv(sim, KEY, cf, CF_TOKEN, { PULUMI_BACKEND_URL: `file://${path.join(devDir, "backends", BACKEND)}` }),
  });
  const node = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, args, { env: { ...env(), ...extra } });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d: Buffer) => (stdout += d));
      p.stderr.on("data", (d: Buffer) => (stderr += d));
      p.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  const fleetJs = path.join(projectRoot, "dist/scripts/cli/fleet.js");

  beforeAll(async () => {
    pg = await startPrivatePostgres("fleet-workers");
    sim = await new HostwindsSim({ apiKeys: [KEY] }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] }, rateLimit: 20, rateWindowMs: 2000, blockMs: 1500 }).start();
    fs.mkdirSync(path.join(devDir, "backends", BACKEND), { recursive: true });
    makeFleetProject(dir);
    for (const t of ["wa", "wb", "wc"]) {
      cf.addZone(`${t}-mail.com`);
      writeSmallTenant(dir, t);
    }
    execFileSync("git", ["init", "-q"], { cwd: dir });
  });
  afterAll(async () => {
    for (const w of workers) w.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1000));
    await sim.stop();
    await cf.stop();
    await pg.stop();
    fs.rmSync(path.join(devDir, "backends", BACKEND), { recursive: true, force: true });
  });

  test("two workers take the previews fleet preview --queue put on the queue; the report is as if run here", async () => {
    for (let i = 0; i < 2; i++) {
      const w = spawn(process.execPath, [fleetJs, "worker", "--database", pg.url, "--concurrency", "1", "--root", dir], { env: env() });
      w.stderr.on("data", () => undefined);
      workers.push(w);
    }
    const r = await node([
      fleetJs,
      "preview",
      "--queue",
      "--database",
      pg.url,
      "--tenants",
      "wa,wb,wc",
      "--no-policy",
      "--json",
      "--root",
      dir,
    ]);
    expect(r.stderr).toContain("3 jobs on the queue");
    if (r.status !== 0) throw new Error(`fleet preview --queue: exit ${r.status}: ${r.stderr}\n${r.stdout.slice(0, 3000)}`);
    const out = JSON.parse(r.stdout) as { tenants: Array<{ tenant: string; status: string; servers: { create: string[] } }> };
    expect(out.tenants.map((t) => `${t.tenant} ${t.status} ${t.servers.create.join(",")}`)).toEqual([
      "wa ok mx1",
      "wb ok mx1",
      "wc ok mx1",
    ]);
    const pool = new Pool({ connectionString: pg.url });
    const { rows } = await pool.query<{ worker: string }>("select distinct worker from fleet_results");
    await pool.end();
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(sim.ledger(KEY)).toEqual([]);
  });

  test("one Cloudflare token spent by two processes: refused without a shared budget, never with the Postgres one", async () => {
    // The two processes spend the token at the same time only if they start together: each says it is
    // ready (a file) and waits for the go (a file), however long Node takes to start on a busy machine.
    const script = `
      const fs = require("fs");
      const { CloudflareClient } = require(${JSON.stringify(path.join(projectRoot, "dist/providers/cloudflare/client.js"))});
      const c = new CloudflareClient({ apiToken: process.env.CLOUDFLARE_API_TOKEN, baseUrl: process.env.CLOUDFLARE_BASE_URL });
      const spend = () => c.zoneId("wa-mail.com").then((z) => Promise.all(Array.from({ length: 15 }, () => c.list(z, {})))).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
      fs.writeFileSync(process.env.BARRIER + "/ready-" + process.pid, "");
      const go = () => (fs.existsSync(process.env.BARRIER + "/go") ? spend() : setTimeout(go, 10));
      go();`;
    const both = async (extra: Record<string, string>) => {
      const barrier = fs.mkdtempSync(path.join(dir, "barrier-"));
      const runs = Promise.all([
        node(["-e", script], { CLOUDFLARE_BUDGET: "4,7", BARRIER: barrier, ...extra }),
        node(["-e", script], { CLOUDFLARE_BUDGET: "4,7", BARRIER: barrier, ...extra }),
      ]);
      const until = Date.now() + 120_000;
      while (fs.readdirSync(barrier).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      fs.writeFileSync(path.join(barrier, "go"), "");
      return runs;
    };
    await new Promise((r) => setTimeout(r, 2100));
    cf.refused.clear();
    expect((await both({})).map((x) => x.status)).toEqual([0, 0]); // each process's own budget: twice the rate
    expect(cf.refused.get(CF_TOKEN) ?? 0).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 2100));
    cf.refused.clear();
    expect((await both({ PENGUINMAILS_BUDGET_DATABASE_URL: pg.url })).map((x) => x.status)).toEqual([0, 0]);
    expect(cf.refused.get(CF_TOKEN) ?? 0).toBe(0);
  });

  test("up in waves on the queue: a bad change halts mid-way through the first wave; jobs not taken are not run", async () => {
    for (const w of workers.splice(0)) w.kill("SIGTERM");
    // One worker taking one job at a time: the second job of the wave is still waiting when the first fails.
    const w = spawn(process.execPath, [fleetJs, "worker", "--database", pg.url, "--concurrency", "1", "--root", dir], { env: env() });
    let log = "";
    w.stderr.on("data", (d: Buffer) => (log += d));
    workers.push(w);
    const good = fs.readFileSync(path.join(dir, "index.js"), "utf8");
    fs.writeFileSync(path.join(dir, "index.js"), `throw new Error("a bad program change");\n`);
    const ledger = sim.ledger(KEY).length;
    try {
      const r = await node([
        fleetJs,
        "up",
        "--queue",
        "--database",
        pg.url,
        "--tenants",
        "wa,wb,wc",
        "--waves",
        "60,100",
        "--no-policy",
        "--json",
        "--root",
        dir,
      ]);
      expect(r.stderr).toContain("2 jobs on the queue");
      expect(r.status).toBe(1);
      const out = JSON.parse(r.stdout) as {
        tenants: Array<{ tenant: string; status: string }>;
        halted: { wave: number; tenant: string; notRun: string[] };
      };
      expect(out.tenants.map((t) => `${t.tenant} ${t.status}`)).toEqual(["wa failed"]);
      expect(out.halted).toMatchObject({ wave: 1, tenant: "wa", notRun: ["wb", "wc"] });
      expect(log).toContain("wa failed: rollout halted, 1 jobs not started removed");
      expect(r.stderr).not.toContain("1 jobs on the queue"); // the second wave never went on the queue
      const pool = new Pool({ connectionString: pg.url });
      const left = await pool.query("select key from graphile_worker.jobs where key like 'fleet:%'");
      await pool.end();
      expect(left.rows).toEqual([]);
      expect(sim.ledger(KEY)).toHaveLength(ledger); // nothing bought or released
    } finally {
      fs.writeFileSync(path.join(dir, "index.js"), good);
    }
  });
});
