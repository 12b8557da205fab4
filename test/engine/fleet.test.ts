/**
 * The fleet commands through the real engine: several tenant stacks of one
 * project (a git repository made here), the Hostwinds and Cloudflare
 * stand-ins, the policy pack. Selection by git history, the preview report's
 * numbers, a failing and a blocked tenant that do not stop the others, drift
 * made in the stand-in, orphans released only with --release --yes.
 */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { devDir, projectRoot, workDirFor } from "../../scripts/lib/engine/pulumi-env";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { FleetOptions, fleetOrphans, fleetPreview } from "../../scripts/cli/fleet/commands";
import { fleetDrift } from "../../scripts/cli/fleet/drift";
import { openTenantStack } from "../../scripts/lib/stacks/stacks";
import { changedTenants, fleetProject } from "../../scripts/lib/stacks/tenants";
import { renderReport } from "../../scripts/cli/fleet/report";
import { IMAGES } from "../../scripts/dev/standins/hostwinds";
import { backendFingerprint, serverName } from "../../providers/hostwinds/inputs";
import { standinEnv } from "../../scripts/dev/standins/env";
const DEBIAN_12 = IMAGES.find((i) => i.slug === "debian-12")!.uuid;

const KEY = "sim-key-fleet-0123456789";
const CF_TOKEN = "sim-cf-token-fleet-0123456789";
const BACKEND = `fleet-${process.pid}`;
/** The owner mark of a tenant's mx1 in this fleet (providers/hostwinds/inputs.ts). */
const markOf = (t: string, server = "mx1") =>
  serverName({
    backend: backendFingerprint({ PULUMI_BACKEND_URL: `file://${path.join(devDir, "backends", BACKEND)}` }),
    project: "penguinmails-infra",
    stack: t,
    tenant: t,
    server,
  });
jest.setTimeout(15 * 60_000);

const tenant = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  tier: "starter",
  monthlyBudgetUsd: 25,
  zone: `${id}-mail.com`,
  domains: [{ name: `${id}-mail.com` }],
  servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 2 }],
  warmup: "standard",
  ...over,
});

describe("fleet commands", () => {
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  const dir = workDirFor(`fleet-${process.pid}`);
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();
  const write = (file: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  };
  const stackFile = (t: Record<string, unknown>) =>
    stringify({ config: { "penguinmails-infra:installMailu": false, "penguinmails-infra:tenant": t } });
  const commit = (msg: string) => {
    git("add", "-A");
    git("commit", "-qm", msg);
    return git("rev-parse", "HEAD");
  };
  const opts = (): FleetOptions => ({
    project: fleetProject(dir),
    concurrency: 2,
    localBackend: BACKEND,
    policyPacks: [path.join(projectRoot, "policies")],
  });
  const env = () => standinEnv(sim, KEY, cf, CF_TOKEN);
  /** The CLI as a user runs it; asynchronously, since the stand-ins answer from this process. */
  const fleetCli = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [path.join(projectRoot, "dist/scripts/cli/fleet.js"), ...args, "--root", dir], {
        env: { ...process.env, ...env(), PULUMI_BACKEND_URL: `file://${path.join(devDir, "backends", BACKEND)}` },
      });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d: Buffer) => {
        stdout += d;
      });
      p.stderr.on("data", (d: Buffer) => {
        stderr += d;
      });
      p.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  let base = "";

  beforeAll(async () => {
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 200, ipDelayMs: 150 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
    for (const t of ["alpha", "bravo", "charlie", "delta"]) cf.addZone(`${t}-mail.com`);
    Object.assign(process.env, env());
    fs.rmSync(dir, { recursive: true, force: true });
    write(
      "Pulumi.yaml",
      "name: penguinmails-infra\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\nstackConfigDir: stacks\n",
    );
    write("index.js", `module.exports = require(${JSON.stringify(path.relative(dir, path.join(projectRoot, "dist", "stacks")))});\n`);
    write("components/mail-server.ts", "// stands for the shared program code\n");
    write("README.md", "# tenants\n");
    write("stacks/Pulumi.alpha.yaml", stackFile(tenant("alpha")));
    write("stacks/Pulumi.bravo.yaml", stackFile(tenant("bravo", { servers: [{ name: "mx1", location: 1, plan: 102, sendingIps: 1 }] })));
    git("init", "-q", "-b", "main");
    git("config", "user.email", "fleet@test.invalid");
    git("config", "user.name", "fleet test");
    base = commit("two tenants");
  });
  afterAll(async () => {
    for (const t of ["alpha", "bravo", "charlie", "delta"]) {
      const s = await openTenantStack(fleetProject(dir), t, 0, { localBackend: BACKEND }, false).catch(() => undefined);
      if (s)
        await s
          .destroy()
          .then(() => s.workspace.removeStack(t))
          .catch(() => undefined);
    }
    await sim.stop();
    await cf.stop();
  });

  test("--changed-since picks tenants from the git history: a config file, shared code, docs", () => {
    const p = fleetProject(dir);
    write("stacks/Pulumi.bravo.yaml", stackFile(tenant("bravo", { servers: [{ name: "mx1", location: 1, plan: 102, sendingIps: 2 }] })));
    const bravoChanged = commit("bravo: one more IP");
    expect(changedTenants(p, base)).toEqual({ tenants: ["bravo"], because: { bravo: "stacks/Pulumi.bravo.yaml" }, removed: [] });
    write("README.md", "# tenants\n\nmore docs\n");
    commit("docs only");
    expect(changedTenants(p, bravoChanged).tenants).toEqual([]);
    write(
      "stacks/Pulumi.charlie.yaml",
      stackFile(tenant("charlie", { servers: [{ name: "mx1", location: 1, plan: 101, sendingIps: 1, ipcount: 3 }] })),
    );
    write("stacks/Pulumi.delta.yaml", stackFile(tenant("delta", { monthlyBudgetUsd: 5 })));
    const added = commit("charlie and delta");
    expect(changedTenants(p, bravoChanged).tenants).toEqual(["charlie", "delta"]);
    write("components/mail-server.ts", "// changed\n");
    commit("shared code");
    const all = changedTenants(p, added);
    expect(all.tenants).toEqual(["alpha", "bravo", "charlie", "delta"]);
    expect(all.because.alpha).toBe("components/mail-server.ts");
    expect(() => changedTenants(p, "no-such-ref")).toThrow(/--changed-since no-such-ref: git could not compare it with HEAD/);
  });

  test("preview: per-tenant changes and costs priced like the stand-in sells; a broken and a blocked tenant do not stop the others", async () => {
    const calls = () => [...sim.requests.values()].reduce((a, b) => a + b, 0);
    const results = await fleetPreview(opts(), ["alpha", "bravo", "charlie", "delta"]);
    const by = Object.fromEntries(results.map((r) => [r.tenant, r]));
    expect(by.alpha).toMatchObject({ status: "ok", costBeforeUsd: 0, costAfterUsd: 14.97 });
    expect(by.alpha.servers.create).toEqual(["mx1"]);
    expect(by.alpha.ips.create.sort()).toEqual(["mx1-ip1", "mx1-ip2"]);
    expect(by.alpha.dns.create).toHaveLength(19); // 3 A, 3 HELO SPF, MX, SPF, DKIM, DMARC, 2 CNAME, 4 SRV, MTA-STS CNAME and TXT, TLS-RPT
    // Plan 102 at $9.99 and two IPs at $4.99: the stand-in's price list.
    expect(by.bravo).toMatchObject({ status: "ok", costAfterUsd: 19.97 });
    expect(by.charlie.status).toBe("failed");
    expect(by.charlie.error).toContain("tenant.servers[0].ipcount: unknown key");
    expect(by.delta.status).toBe("blocked");
    // The program refuses it before any resource (the policy pack is the second guard): blocked, with the line.
    expect(by.delta.error).toContain("tenant.monthlyBudgetUsd: expected at least $14.97, what the config costs a month");
    expect(sim.ledger(KEY)).toEqual([]); // a preview buys nothing

    const report = renderReport(results);
    expect(report).toContain("**Monthly cost: $0.00 → $49.91 (+$49.91)**"); // 14.97 + 19.97 + charlie unknown (0) + delta 14.97
    expect(report).toMatch(/\| charlie \| \*\*failed\*\* \|/);
    expect(report).toMatch(/\| delta \| \*\*blocked by policy\*\* \|/);
    expect(report).toContain("| alpha | ok | +1 | +2 | +19 | $0.00 → $14.97 (+$14.97) |");
    expect(calls()).toBeGreaterThanOrEqual(0);
  });

  test("up through the CLI: the good tenants are applied, the failures named, exit status 1", async () => {
    const r = await fleetCli("up", "--tenants", "alpha,bravo,charlie", "--concurrency", "2", "--no-policy", "--json");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("fleet up: 2 of 3 succeeded; charlie (failed) did not");
    expect(r.stderr).toMatch(/fleet up: \d\/3 done/);
    const out = JSON.parse(r.stdout) as { tenants: Array<{ tenant: string; status: string }> };
    expect(out.tenants.map((t) => `${t.tenant} ${t.status}`)).toEqual(["alpha ok", "bravo ok", "charlie failed"]);
    const bought = sim.ledger(KEY).filter((e) => e.event === "bought");
    expect(
      bought
        .filter((e) => e.kind === "server")
        .map((e) => e.name)
        .sort(),
    ).toEqual([markOf("alpha"), markOf("bravo")].sort());
    expect(bought.filter((e) => e.kind === "ip")).toHaveLength(4);
  });

  test("drift: the inventory finds an IP released in the Hostwinds panel and a record deleted in the dashboard; the engine runs for those tenants only", async () => {
    const alpha = sim.inventory(KEY).find((s) => s.name === markOf("alpha"))!;
    sim.releaseIpByHand(KEY, alpha.ips[1]);
    const clean = await fleetDrift(opts(), ["bravo"]);
    expect(clean.stats).toMatchObject({ engineRuns: 0, apiCalls: { hostwinds: 3, cloudflare: 5 } }); // get_instances + 2 × get_instance_ips; 1 zone page + 4 zones
    const { tenants: drift, stats } = await fleetDrift(opts(), ["alpha", "bravo"]);
    expect(drift.map((d) => `${d.tenant} ${d.drifted}`)).toEqual(["alpha true", "bravo false"]);
    expect(drift[0].changes.some((c) => /^create mx1-ip\d$/.test(c))).toBe(true);
    expect(drift[0].inventory).toEqual([expect.stringMatching(/^mx1-ip\d: IP .* is no longer on server \d+$/)]);
    expect(stats.engineRuns).toBe(1);
    cf.deleteByHand("bravo-mail.com", "_dmarc.bravo-mail.com", "TXT");
    // The main IP's PTR (the server's host name, set by Instance) changed in the panel.
    const bravoMain = sim.inventory(KEY).find((s) => s.name === markOf("bravo"))!.ips[0];
    sim.setRdnsByHand(KEY, bravoMain, "hwsrv-1.hostwindsdns.com");
    const cli = await fleetCli("drift", "--tenants", "alpha,bravo", "--json");
    expect(cli.status).toBe(1);
    const out = JSON.parse(cli.stdout) as {
      tenants: Array<{ tenant: string; drifted: boolean; inventory?: string[] }>;
      stats: { engineRuns: number };
    };
    expect(out.tenants.map((t) => `${t.tenant} ${t.drifted}`)).toEqual(["alpha true", "bravo true"]);
    expect(out.tenants[1].inventory).toEqual([
      `mx1: rDNS of main IP ${bravoMain} changed`,
      expect.stringContaining("(TXT _dmarc.bravo-mail.com): record"),
    ]);
    expect(cli.stderr).toMatch(/fleet drift: 2 tenants, 2 engine runs, API calls: Hostwinds 3, Cloudflare 5/);
    const list = await fleetCli("list", "--tenants", "alpha,bravo");
    expect(list.stdout).toMatch(/alpha\s+1\s+2\s+\$14\.97\s+\S+\s+drifted/);
    expect(list.stdout).toMatch(/bravo\s+1\s+2\s+\$19\.97\s+\S+\s+drifted/);
  });

  test("orphans: a server and an IP no stack owns are listed with their cost, and released only with --release --yes", async () => {
    const client = new HostwindsClient({ apiKey: KEY, apiUrl: sim.url, requestsPerSecond: 0 });
    // Marked by a stack of this backend (alpha) that does not hold it: an orphan. A mark naming no stack of
    // this backend would be another backend's, listed as foreign and never released (orphans.test.ts).
    const forgotten = markOf("alpha", "forgotten");
    await client.buyInstance({ template: DEBIAN_12, planRid: 101, locationId: 1, billingCycle: "monthly", name: forgotten });
    const bravo = sim.inventory(KEY).find((s) => s.name === markOf("bravo"))!;
    await client.buySecondaryIp(bravo.serviceId);
    // The stand-in builds the server and assigns the IP after a delay: wait for both (longer on a busy machine).
    await client.waitFor(
      "the forgotten server",
      async () => sim.inventory(KEY).find((s) => s.name === forgotten && s.status === "ACTIVE"),
      {
        timeoutMs: 120_000,
        initialDelayMs: 100,
        maxDelayMs: 500,
      },
    );
    const strayIp = await client.waitFor(
      "the stray IP",
      async () =>
        sim
          .inventory(KEY)
          .find((s) => s.name === markOf("bravo"))!
          .ips.find((ip) => !bravo.ips.includes(ip)),
      { timeoutMs: 120_000, initialDelayMs: 100, maxDelayMs: 500 },
    );

    const dry = await fleetOrphans(opts(), { release: false, minAgeMs: 0 });
    expect(dry.orphans.map((o) => `${o.kind} ${o.server} ${o.ip ?? ""} ${o.monthlyUsd}`).sort()).toEqual([
      `ip ${markOf("bravo")} ${strayIp} 4.99`,
      `server ${forgotten}  4.99`,
    ]);
    expect(dry.monthlyUsd).toBe(9.98);
    const released = () => sim.ledger(KEY).filter((e) => e.event === "released").length;
    const before = released();
    const noYes = await fleetCli("orphans", "--release");
    expect([noYes.status, noYes.stderr.includes("add --yes")]).toEqual([2, true]);
    expect(released()).toBe(before);

    const r = await fleetCli("orphans", "--release", "--yes", "--grace", "1s", "--min-age", "0s");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("2 orphans, $9.98/month, released");
    expect(released()).toBe(before + 2);
    expect(
      sim
        .inventory(KEY)
        .map((s) => s.name)
        .sort(),
    ).toEqual([markOf("alpha"), markOf("bravo")].sort());
  });

  test("up of a bad program change goes out in waves and halts in the first: only the first tenant ran, the others were not started", async () => {
    const good = fs.readFileSync(path.join(dir, "index.js"), "utf8");
    write("index.js", `throw new Error("a bad program change");\n`);
    commit("a bad program change");
    const ledger = sim.ledger(KEY).length;
    try {
      const r = await fleetCli("up", "--changed-since", "HEAD~1", "--concurrency", "2", "--no-policy", "--json");
      expect(r.status).toBe(1);
      const out = JSON.parse(r.stdout) as {
        tenants: Array<{ tenant: string; status: string }>;
        halted: { wave: number; tenant: string; notRun: string[] };
      };
      expect(out.tenants.map((t) => `${t.tenant} ${t.status}`)).toEqual(["alpha failed"]);
      expect(out.halted).toMatchObject({ wave: 1, tenant: "alpha", notRun: ["bravo", "charlie", "delta"] });
      expect(r.stderr).toContain("fleet up: rollout halted in wave 1 at alpha (failed); not started: bravo, charlie, delta");
      expect(sim.ledger(KEY)).toHaveLength(ledger); // nothing bought or released
    } finally {
      write("index.js", good);
      commit("revert the bad change");
    }
  });
});
