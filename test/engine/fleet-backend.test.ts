/**
 * The fleet on a shared state backend read directly, for each DIY backend read here besides a
 * folder: Pulumi's Postgres backend (`postgres://`, pkg/backend/diy/postgres) in a private Postgres
 * cluster, and an S3 bucket (`s3://<bucket>?endpoint=…&disableSSL=true&s3ForcePathStyle=true`, the
 * form Pulumi's docs give for S3-compatible servers, "Using a DIY Backend") on gofakes3. Real
 * `pulumi up` runs write the stacks (one plain, one with PULUMI_DIY_BACKEND_GZIP); the fleet then
 * lists the stacks and reads their checkpoints from the backend itself, agreeing with what the CLI
 * lists (`fleet list` reads the same blobs), `fleet drift` runs no engine when nothing drifted and
 * one engine run for a tenant changed by hand, and a running `up`'s update lock is read from it.
 */
import * as path from "path";
import { backendFingerprint, serverName } from "../../providers/hostwinds/inputs";
import * as fs from "fs";
import * as os from "os";
import { Pool } from "pg";
import { workDirFor } from "../../scripts/lib/engine/pulumi-env";
import { makeFleetProject, writeSmallTenant } from "../../scripts/dev/fleet-project";
import { HostwindsSim } from "../../scripts/dev/standins/hostwinds";
import { CloudflareSim } from "../../scripts/dev/standins/cloudflare";
import { PrivatePostgres, startPrivatePostgres } from "../../scripts/dev/postgres";
import { GoFakeS3 } from "../../scripts/dev/standins/s3";
import { FleetOptions, fleetList, fleetOrphans, fleetUp } from "../../scripts/cli/fleet/commands";
import { fleetDrift } from "../../scripts/cli/fleet/drift";
import { fleetProject } from "../../scripts/lib/stacks/tenants";
import { LockState, backendStacks, describeLock, lockState, postgresBackend, stateStore } from "../../scripts/cli/fleet/backend";
import { lastKnownWorld } from "../../scripts/cli/fleet/checkpoints";
import { fleetWorkspace } from "../../scripts/lib/stacks/stacks";
import { standinEnv } from "../../scripts/dev/standins/env";

const KEY = "sim-key-fleet-backend-0123456789";
const CF_TOKEN = "sim-cf-token-fleet-backend-0123456789";
const PROJECT = "penguinmails-infra";
jest.setTimeout(10 * 60_000);

/** One kind of backend: started, its URL and environment, and the stored blobs as the CLI wrote them. */
interface BackendKind {
  start(): Promise<{ url: string; env: Record<string, string> }>;
  /** The stored stack blobs' keys under `.pulumi/stacks/`, and a blob's bytes. */
  stackBlobs(): Promise<{ keys: string[]; bytes(key: string): Promise<Buffer> }>;
  /** What the stored keys start with before `.pulumi/` (the URL's path or database name). */
  prefix: string;
  stop(): Promise<void>;
}

const postgres = (): BackendKind => {
  let pg: PrivatePostgres;
  let url = "";
  return {
    prefix: "postgres/",
    async start() {
      pg = await startPrivatePostgres("fleet-backend");
      // lib/pq (the CLI's driver) asks for TLS unless told otherwise; the cluster listens on a unix socket only.
      url = `postgres://postgres@/postgres?host=${encodeURIComponent(pg.dir)}&sslmode=disable`;
      return { url, env: {} };
    },
    async stackBlobs() {
      // The rows as the CLI wrote them: the database name is the keys' prefix, data is {"data": base64}.
      const pool = new Pool({ connectionString: postgresBackend(url).connection });
      const { rows } = await pool.query<{ key: string; data: { data: string } }>(
        "select key, data from pulumi_state where key like 'postgres/.pulumi/stacks/%' order by key",
      );
      await pool.end();
      return { keys: rows.map((r) => r.key), bytes: async (k) => Buffer.from(rows.find((r) => r.key === k)!.data.data, "base64") };
    },
    stop: async () => pg?.stop(),
  };
};

const s3 = (): BackendKind => {
  let server: GoFakeS3;
  return {
    prefix: "fleet/",
    async start() {
      server = await new GoFakeS3({ bucket: "pm-state" }).start();
      // The folder after the bucket is the keys' prefix, as for any blob backend (pkg/backend/diy/backend.go).
      return { url: server.backendUrl("fleet"), env: server.env };
    },
    async stackBlobs() {
      const keys = await server.keys("fleet/.pulumi/stacks/");
      return { keys, bytes: async (k) => Buffer.from(await (await fetch(`${server.endpoint}/pm-state/${k}`)).arrayBuffer()) };
    },
    stop: async () => server?.stop(),
  };
};

describe.each([
  ["Postgres", postgres],
  ["S3 (gofakes3)", s3],
])("fleet on Pulumi's %s DIY backend, read directly", (_name, kind) => {
  const backend = kind();
  let sim: HostwindsSim;
  let cf: CloudflareSim;
  let url = "";
  const saved = { ...process.env };
  const dir = workDirFor(`fleet-backend-${process.pid}`);
  const opts = (): FleetOptions => ({ project: fleetProject(dir), concurrency: 2 });
  /** The owner mark of a tenant's mx1 on this backend (providers/hostwinds/inputs.ts). */
  const markOf = (t: string) =>
    serverName({ backend: backendFingerprint({ PULUMI_BACKEND_URL: url }), project: PROJECT, stack: t, tenant: t, server: "mx1" });

  beforeAll(async () => {
    const started = await backend.start();
    url = started.url;
    sim = await new HostwindsSim({ apiKeys: [KEY], buildMs: 100, ipDelayMs: 100 }).start();
    cf = await new CloudflareSim({ tokens: { [CF_TOKEN]: ["*"] } }).start();
    makeFleetProject(dir);
    for (const t of ["pa", "pb"]) {
      cf.addZone(`${t}-mail.com`);
      writeSmallTenant(dir, t, { sendingIps: 1 });
    }
    // Not the development backend: the stacks get an operator's passphrase (scripts/lib/engine/secrets.ts).
    const passphrase = path.join(dir, "passphrase");
    fs.writeFileSync(passphrase, "fleet-backend-test-passphrase\n", { mode: 0o600 });
    Object.assign(
      process.env,
      standinEnv(sim, KEY, cf, CF_TOKEN, { ...started.env, PULUMI_BACKEND_URL: url, PULUMI_CONFIG_PASSPHRASE_FILE: passphrase }),
    );
  });
  afterAll(async () => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await sim?.stop();
    await cf?.stop();
    await backend.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("real pulumi up into the backend; the stack list and checkpoints read from it directly agree with the CLI", async () => {
    expect((await fleetUp(opts(), ["pa"])).map((u) => `${u.tenant} ${u.status} ${u.error ?? ""}`)).toEqual(["pa ok "]);
    process.env.PULUMI_DIY_BACKEND_GZIP = "true";
    try {
      expect((await fleetUp(opts(), ["pb"])).map((u) => `${u.tenant} ${u.status} ${u.error ?? ""}`)).toEqual(["pb ok "]);
    } finally {
      delete process.env.PULUMI_DIY_BACKEND_GZIP;
    }
    const blobs = await backend.stackBlobs();
    const p = backend.prefix;
    expect(blobs.keys).toEqual(
      expect.arrayContaining([`${p}.pulumi/stacks/${PROJECT}/pa.json`, `${p}.pulumi/stacks/${PROJECT}/pb.json.gz`]),
    );
    expect((await blobs.bytes(`${p}.pulumi/stacks/${PROJECT}/pb.json.gz`)).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    const store = stateStore(url)!;
    try {
      expect((await store.stacks()).map((s) => `${s.project}/${s.stack}`).sort()).toEqual([`${PROJECT}/pa`, `${PROJECT}/pb`]);
      const ws = await fleetWorkspace(fleetProject(dir));
      const cli = (await ws.listStacks({ all: true })).map((s) => s.name).sort();
      expect((await backendStacks(ws, store)).map((s) => s.name).sort()).toEqual(cli);
      const known = await lastKnownWorld(store, PROJECT, ["pa", "pb", "nobody"]);
      const servers = sim.inventory(KEY);
      for (const [i, t] of ["pa", "pb"].entries()) {
        expect(known[i].unreadable).toBeUndefined();
        expect(known[i].servers.map((s) => s.serviceId)).toEqual([servers.find((s) => s.name === markOf(t))!.serviceId]);
        expect(known[i].ips).toHaveLength(1);
        expect(known[i].records.length).toBeGreaterThan(3);
      }
      expect(known[2].unreadable).toBe("no checkpoint (never deployed)");
      // fleet list from the same blobs: outputs and last write, no CLI call per tenant.
      const list = await fleetList(opts(), ["pa", "pb", "nobody"]);
      expect(list.map((r) => `${r.tenant} ${r.servers} ${r.sendingIps} ${r.monthlyCostUsd} ${r.error ?? ""}`)).toEqual([
        "pa 1 1 9.98 ",
        "pb 1 1 9.98 ",
        "nobody 0 0 0 tenant nobody has no stack yet (run fleet up)",
      ]);
      expect(Date.parse(list[0].lastUpdate!)).toBeGreaterThan(Date.now() - 10 * 60_000);
    } finally {
      await store.close();
    }
  });

  test("fleet drift reads the backend, not the engine: no engine run when nothing drifted, one for the tenant renamed by hand", async () => {
    const clean = await fleetDrift(opts(), ["pa", "pb"], {
      engine: async () => {
        throw new Error("the engine must not run: nothing drifted");
      },
    });
    expect(clean.stats.inventorySkipped).toBeUndefined();
    expect(clean.stats.engineRuns).toBe(0);
    expect(clean.tenants.map((d) => `${d.tenant} ${d.drifted}`)).toEqual(["pa false", "pb false"]);

    const pb = sim.inventory(KEY).find((s) => s.name === markOf("pb"))!;
    sim.renameByHand(KEY, pb.serviceId, "pm-pb-renamed");
    const { tenants, stats } = await fleetDrift(opts(), ["pa", "pb"]);
    expect(tenants.map((d) => `${d.tenant} ${d.drifted} ${d.error ?? ""}`)).toEqual(["pa false ", "pb true "]);
    expect(stats.engineRuns).toBe(1);
  });

  test("a running up's update lock is read from the backend: held by this host's CLI, still running; free afterwards", async () => {
    const store = stateStore(url)!;
    try {
      let done = false;
      const up = fleetUp(opts(), ["pa"]).finally(() => (done = true));
      let seen: LockState | undefined;
      while (!done && !seen) {
        const s = await lockState(store, { name: "pa" }, PROJECT);
        if (s.kind === "held") seen = s;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect((await up).map((u) => u.status)).toEqual(["ok"]);
      expect(seen).toMatchObject({ kind: "held", alive: true, by: { hostname: os.hostname() } });
      expect(describeLock(seen!)).toMatch(/^locked by .* pid \d+ since .* \(still running\)$/);
      expect(await lockState(store, { name: "pa" }, PROJECT)).toEqual({ kind: "free" });
    } finally {
      await store.close();
    }
  });

  test("orphans: the owner set is every stack in the backend, read directly; nothing the stacks own is an orphan", async () => {
    const r = await fleetOrphans(opts(), { release: false, minAgeMs: 0 });
    expect(r.orphans).toEqual([]);
  });
});
