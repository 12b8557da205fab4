/**
 * The fleet at scale: a synthetic fleet whose checkpoints come from real `pulumi up` runs of a
 * few template tenants, cloned with distinct ids (tenant id, server ids, IPs, zone and record
 * ids); a sample of the clones goes in through `pulumi stack import` (so the engine accepts the
 * cloned form), the rest are written as the file backend stores them. The stand-ins hold the
 * matching servers, IPs and records, spread over several Hostwinds accounts and Cloudflare
 * tokens, with the limits on (Cloudflare's documented one, Hostwinds' [assumed] one); about 1%
 * of the tenants get drift injected by hand. Then `fleet drift` must find exactly those, and the
 * figures are: wall time, API calls, engine runs, rate-limit refusals; `pulumi stack ls` and the
 * checkpoint reads at this many stacks.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { devDir, engineEnv, workDirFor } from "../../lib/engine/pulumi-env";
import { makeFleetProject, smallTenantYaml } from "../fleet-project";
import { ASSUMED_RATE_LIMIT, HostwindsSim } from "../standins/hostwinds";
import { CloudflareSim } from "../standins/cloudflare";
import { fleetUp } from "../../cli/fleet/commands";
import { fleetDrift } from "../../cli/fleet/drift";
import { fleetInventorySources, realWorld } from "../../cli/fleet/inventory";
import { fleetProject } from "../../lib/stacks/tenants";
import { checkpointFile, lastKnownWorld, readCheckpoint } from "../../cli/fleet/checkpoints";
import { stateStore } from "../../cli/fleet/backend";
import { startPrivatePostgres } from "../postgres";
import { INSTANCE_TYPE, SECONDARY_IP_TYPE } from "../../../providers/hostwinds";
import { DNS_RECORD_TYPE } from "../../../providers/cloudflare";

const PROJECT = "penguinmails-infra";
const TEMPLATES = ["tmpla", "tmplb"];

export interface FleetScaleOptions {
  tenants: number;
  /** Tenants per Hostwinds account and per Cloudflare token. */
  perAccount: number;
  /** Clones that go in through `pulumi stack import`. */
  importSample: number;
  concurrency: number;
  /** `pulumi stack ls` is stopped after this long and reported as "> cap" (it took > 330 s and 3.4 GB at 10K stacks). */
  stackLsCapS: number;
  /** Also copy every checkpoint into Pulumi's Postgres DIY backend and measure stack ls vs direct reads there. */
  postgres?: boolean;
  progress: (line: string) => void;
}

export interface FleetScaleResult {
  tenants: number;
  accounts: number;
  injected: string[];
  found: string[];
  exact: boolean;
  wallS: number;
  inventoryS: number;
  engineS: number;
  engineRuns: number;
  apiCalls: { hostwinds: number; cloudflare: number };
  servers: number;
  zones: number;
  refused: { hostwinds: number; cloudflare: number };
  imported: number;
  /** Seconds, or undefined when it did not finish within stackLsCapS. */
  stackLsS?: number;
  stackLsCapS: number;
  /** The stack list read from the backend's folder directly (what the fleet uses). */
  directList: { stacks: number; s: number };
  checkpointReadS: number;
  onPostgres?: PostgresFigures;
  setupS: number;
  /** The inventory alone, each way an account's IPs can be read (ASSUMPTIONS: ips in get_instances). */
  inventoryWays: Array<{ way: string; s: number; hostwindsCalls: number; servers: number }>;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string>, capMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const cap = capMs ? setTimeout(() => p.kill("SIGKILL"), capMs) : undefined;
    p.stdout.on("data", (d: Buffer) => (out += d));
    p.stderr.on("data", (d: Buffer) => (err += d));
    p.on("close", (code, signal) => {
      clearTimeout(cap);
      if (code === 0) resolve(out);
      else
        reject(signal === "SIGKILL" && capMs ? new CapReached() : new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${err.slice(-600)}`));
    });
  });
}

/** A command stopped at its time cap (measured as "> cap"). */
class CapReached extends Error {}

const hex32 = (n: number) => n.toString(16).padStart(32, "0");

/** A deep copy with every string or number equal to a key of `map` replaced, and `from` → `to` inside strings. */
function cloneWith(v: unknown, map: Map<string, string>, from: string, to: string): unknown {
  if (typeof v === "string") return map.get(v) ?? (v.includes(from) ? v.split(from).join(to) : v);
  if (typeof v === "number") return map.has(String(v)) ? Number(map.get(String(v))) : v;
  if (Array.isArray(v)) return v.map((x) => cloneWith(x, map, from, to));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneWith(x, map, from, to)]));
  return v;
}

export interface PostgresFigures {
  stacks: number;
  copyS: number;
  stackLsS?: number;
  directListS: number;
  checkpointReadS: number;
  exact: boolean;
}

/**
 * The same checkpoints in Pulumi's Postgres DIY backend (rows as pkg/backend/diy/postgres/bucket.go
 * writes them: key = the file backend's path under "<database>/", data = {"data": base64}), then
 * `pulumi stack ls` on it (time-capped) against the direct reads the fleet does.
 */
async function postgresBackendFigures(backendDir: string, dir: string, ids: string[], o: FleetScaleOptions): Promise<PostgresFigures> {
  const pg = await startPrivatePostgres("bench-scale");
  const url = `postgres://postgres@/postgres?host=${encodeURIComponent(pg.dir)}&sslmode=disable`;
  // Not import(): under module nodenext a CommonJS file keeps import() as an ES module load.
  const { Pool } = require("pg") as typeof import("pg");
  const pool = new Pool({ connectionString: url });
  try {
    o.progress(`copying ${ids.length} checkpoints into a Postgres DIY backend`);
    let t = Date.now();
    await pool.query("create table pulumi_state (key text primary key, data json not null, updated_at timestamptz not null default now())");
    await pool.query("create index pulumi_state_key_prefix_idx on pulumi_state (key text_pattern_ops)");
    const files = [".pulumi/meta.yaml", ...ids.map((id) => `.pulumi/stacks/${PROJECT}/${id}.json`)];
    for (let i = 0; i < files.length; i += 500) {
      const batch = files.slice(i, i + 500);
      await pool.query("insert into pulumi_state (key, data) select unnest($1::text[]), unnest($2::json[])", [
        batch.map((f) => `postgres/${f}`),
        batch.map((f) => JSON.stringify({ data: fs.readFileSync(path.join(backendDir, f)).toString("base64") })),
      ]);
    }
    const copyS = (Date.now() - t) / 1000;
    o.progress(`pulumi stack ls at ${ids.length} stacks on the Postgres backend`);
    t = Date.now();
    let stackLsS: number | undefined;
    try {
      const ls = await run("pulumi", ["stack", "ls", "--json"], dir, { ...engineEnv(), PULUMI_BACKEND_URL: url }, o.stackLsCapS * 1000);
      stackLsS = (Date.now() - t) / 1000;
      if ((JSON.parse(ls) as unknown[]).length < ids.length)
        throw new Error("pulumi stack ls on the Postgres backend lists too few stacks");
    } catch (e) {
      if (!(e instanceof CapReached)) throw e;
    }
    const store = stateStore(url)!;
    try {
      t = Date.now();
      const listed = await store.stacks();
      const directListS = (Date.now() - t) / 1000;
      t = Date.now();
      const known = await lastKnownWorld(store, PROJECT, ids);
      const checkpointReadS = (Date.now() - t) / 1000;
      const fromFiles = await lastKnownWorld(stateStore(`file://${backendDir}`)!, PROJECT, ids);
      return {
        stacks: listed.length,
        copyS,
        stackLsS,
        directListS,
        checkpointReadS,
        exact: listed.length === ids.length && JSON.stringify(known) === JSON.stringify(fromFiles),
      };
    } finally {
      await store.close();
    }
  } finally {
    await pool.end();
    await pg.stop();
  }
}

// eslint-disable-next-line max-lines-per-function -- one benchmark scenario read top to bottom (set up, measure, tear down); steps share the timings
export async function fleetScaleBench(o: FleetScaleOptions): Promise<FleetScaleResult> {
  const t0 = Date.now();
  const accounts = Math.max(1, Math.ceil(o.tenants / o.perAccount));
  const keys = Array.from({ length: accounts }, (_, a) => `bench-scale-key-${a}-0123456789`);
  const tokens = Array.from({ length: accounts }, (_, a) => `bench-scale-cf-${a}-0123456789`);
  const templateKey = "bench-scale-template-key-0123456789";
  const templateToken = "bench-scale-template-cf-0123456789";
  const hw = await new HostwindsSim({
    apiKeys: [templateKey, ...keys],
    buildMs: 100,
    ipDelayMs: 50,
    rateLimit: ASSUMED_RATE_LIMIT,
  }).start();
  const cfScopes: Record<string, string[]> = { [templateToken]: TEMPLATES.map((t) => `${t}-mail.com`) };
  for (const t of tokens) cfScopes[t] = [];
  const cf = await new CloudflareSim({ tokens: cfScopes }).start();
  const saved = { ...process.env };
  const backend = `bench-scale-${process.pid}`;
  const backendDir = path.join(devDir, "backends", backend);
  try {
    const dir = workDirFor("bench-fleet-scale");
    makeFleetProject(dir);
    const stackYaml = (id: string, sendingIps: number, account?: number, salt?: string) =>
      smallTenantYaml(id, {
        sendingIps,
        encryptionsalt: salt,
        config:
          account === undefined
            ? {}
            : { "penguinmails-infra:hostwindsAccount": `a${account}`, "penguinmails-infra:cloudflareAccount": `a${account}` },
      });
    // 1. Real `pulumi up` of the template tenants.
    for (const t of TEMPLATES) {
      cf.addZone(`${t}-mail.com`);
      fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${t}.yaml`), stackYaml(t, t === "tmpla" ? 1 : 2));
    }
    Object.assign(process.env, {
      HOSTWINDS_API_URL: hw.url,
      HOSTWINDS_API_KEY: templateKey,
      HOSTWINDS_POLL_INTERVAL_MS: "100",
      HOSTWINDS_REQUESTS_PER_SECOND: "2",
      CLOUDFLARE_BASE_URL: cf.url,
      CLOUDFLARE_API_TOKEN: templateToken,
    });
    o.progress(`templates: pulumi up of ${TEMPLATES.join(", ")}`);
    const project = fleetProject(dir);
    const ups = await fleetUp({ project, concurrency: 2, localBackend: backend }, TEMPLATES);
    const bad = ups.find((u) => u.status !== "ok");
    if (bad) throw new Error(`template ${bad.tenant}: ${bad.error}`);
    const templates = TEMPLATES.map((t) => {
      const file = checkpointFile(backendDir, PROJECT, t);
      if (!file) throw new Error(`no checkpoint for template ${t} in ${backendDir}`);
      const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint: { latest: unknown } };
      const salt = (parse(fs.readFileSync(path.join(dir, "stacks", `Pulumi.${t}.yaml`), "utf8")) as { encryptionsalt?: string })
        .encryptionsalt;
      return { id: t, latest: doc.checkpoint.latest, resources: readCheckpoint(file).resources, salt };
    });
    for (const t of TEMPLATES) fs.rmSync(path.join(dir, "stacks", `Pulumi.${t}.yaml`));

    // 2. Clones with distinct ids, and the stand-ins holding what they own.
    const ids = Array.from({ length: o.tenants }, (_, i) => `f${String(i).padStart(5, "0")}`);
    const cloneDir = path.join(backendDir, ".pulumi", "stacks", PROJECT);
    fs.mkdirSync(cloneDir, { recursive: true });
    const importEnv = { ...engineEnv({ backend }), PULUMI_CONFIG_PASSPHRASE: engineEnv().PULUMI_CONFIG_PASSPHRASE };
    let nextServiceId = 500000;
    let nextIp = 0;
    let nextRecord = 1;
    let imported = 0;
    const ip = () => {
      const n = nextIp++;
      return `100.${64 + Math.floor(n / 65025)}.${Math.floor(n / 255) % 255}.${(n % 255) + 1}`;
    };
    o.progress(`cloning ${o.tenants} tenants over ${accounts} Hostwinds accounts and Cloudflare tokens`);
    for (const [i, id] of ids.entries()) {
      const t = templates[i % templates.length];
      const account = Math.floor(i / o.perAccount);
      const servers = t.resources.filter((r) => r.type === INSTANCE_TYPE);
      const ips = t.resources.filter((r) => r.type === SECONDARY_IP_TYPE);
      const records = t.resources.filter((r) => r.type === DNS_RECORD_TYPE);
      const map = new Map<string, string>();
      for (const s of servers) map.set(String(s.outputs!.serviceId), String(nextServiceId++));
      for (const s of servers) map.set(String(s.outputs!.mainIp), ip());
      for (const x of ips) map.set(x.id!, ip());
      const zoneId = String(records[0].outputs!.zoneId);
      map.set(zoneId, hex32(0x7a000000 + i));
      for (const r of records) map.set(r.id!, hex32(nextRecord++));
      const latest = cloneWith(t.latest, map, t.id, id) as {
        resources: Array<{ type: string; id?: string; outputs?: Record<string, unknown> }>;
      };
      // The stand-ins hold what the clone owns.
      for (const s of latest.resources.filter((r) => r.type === INSTANCE_TYPE)) {
        const out = s.outputs!;
        hw.seedInstance(keys[account], {
          serviceId: Number(out.serviceId),
          name: String(out.serverName),
          plan: Number(out.plan),
          location: Number(out.location),
          billingCycle: String(out.billingCycle ?? "monthly"),
          template: String(out.template ?? "debian-12"),
          mainIp: String(out.mainIp),
          ips: latest.resources
            .filter((r) => r.type === SECONDARY_IP_TYPE && r.outputs?.serviceId === out.serviceId)
            .map((r) => ({ ip: String(r.outputs!.ip || r.id), rdns: String(r.outputs!.rdns) })),
        });
      }
      const zone = `${id}-mail.com`;
      cf.addZoneWithId(zone, map.get(zoneId)!);
      cfScopes[tokens[account]].push(zone);
      cf.seedRecords(
        zone,
        latest.resources
          .filter((r) => r.type === DNS_RECORD_TYPE)
          .map((r) => {
            const x = r.outputs!;
            return {
              id: r.id!,
              type: String(x.type),
              name: String(x.name),
              content: String(x.content),
              ttl: Number(x.ttl),
              proxied: Boolean(x.proxied),
              priority: x.priority as number | undefined,
              data: x.data as Record<string, unknown> | undefined,
            };
          }),
      );
      const sendingIps = t.id === "tmpla" ? 1 : 2;
      fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${id}.yaml`), stackYaml(id, sendingIps, account, t.salt));
      if (imported < o.importSample) {
        // Through the engine's own door: `pulumi stack import` must accept the clone.
        const file = path.join(dir, `import-${id}.json`);
        fs.writeFileSync(file, JSON.stringify({ version: 3, deployment: latest }));
        await run("pulumi", ["stack", "init", id, "--non-interactive"], dir, importEnv);
        fs.writeFileSync(path.join(dir, "stacks", `Pulumi.${id}.yaml`), stackYaml(id, sendingIps, account, t.salt));
        await run("pulumi", ["stack", "import", "--stack", id, "--file", file], dir, importEnv);
        fs.rmSync(file);
        imported++;
      } else
        fs.writeFileSync(
          path.join(cloneDir, `${id}.json`),
          JSON.stringify({ version: 3, checkpoint: { stack: `organization/${PROJECT}/${id}`, latest } }),
        );
      if ((i + 1) % 1000 === 0) o.progress(`  ${i + 1}/${o.tenants} cloned`);
    }
    // The templates' own stacks and servers are not part of the fleet.
    for (const t of TEMPLATES) fs.rmSync(path.join(cloneDir, `${t}.json`), { force: true });

    // 3. About 1% drift, by hand, of four kinds.
    const injected: string[] = [];
    const fileStore = stateStore(`file://${backendDir}`)!;
    const serviceIdOf = async (id: string, account: number) => {
      const known = (await lastKnownWorld(fileStore, PROJECT, [id]))[0];
      return hw.inventory(keys[account]).find((s) => s.serviceId === known.servers[0]?.serviceId)!;
    };
    const step = Math.max(1, Math.round(100));
    for (let i = 7; i < ids.length; i += step) {
      const id = ids[i];
      const account = Math.floor(i / o.perAccount);
      const server = await serviceIdOf(id, account);
      switch (injected.length % 4) {
        case 0:
          hw.releaseIpByHand(keys[account], server.ips[1]);
          break;
        case 1:
          cf.deleteByHand(`${id}-mail.com`, `_dmarc.${id}-mail.com`, "TXT");
          break;
        case 2:
          hw.renameByHand(keys[account], server.serviceId, `pm-${id}-renamed`);
          break;
        case 3:
          hw.setRdnsByHand(keys[account], server.ips[1], `changed.${id}-mail.com`);
          break;
      }
      injected.push(id);
    }
    const setupS = (Date.now() - t0) / 1000;

    // 4. stack ls and checkpoint reads at this many stacks.
    const env = engineEnv({ backend });
    o.progress(`pulumi stack ls at ${o.tenants} stacks`);
    let t = Date.now();
    let stackLsS: number | undefined;
    try {
      const ls = await run("pulumi", ["stack", "ls", "--json"], dir, env, o.stackLsCapS * 1000);
      stackLsS = (Date.now() - t) / 1000;
      const listed = (JSON.parse(ls) as unknown[]).length;
      if (listed < o.tenants) throw new Error(`pulumi stack ls lists ${listed} stacks, expected ${o.tenants}`);
    } catch (e) {
      if (!(e instanceof CapReached)) throw e;
      o.progress(`pulumi stack ls stopped after ${o.stackLsCapS} s`);
    }
    t = Date.now();
    const listedDirect = (await fileStore.stacks()).length;
    const directListS = (Date.now() - t) / 1000;
    t = Date.now();
    await lastKnownWorld(fileStore, PROJECT, ids);
    const checkpointReadS = (Date.now() - t) / 1000;
    // The Postgres figures are a side measurement: their failure is reported, not the run's.
    const onPostgres = o.postgres
      ? await postgresBackendFigures(backendDir, dir, ids, o).catch((e: Error) => {
          o.progress(`Postgres backend figures failed: ${e.message}`);
          return undefined;
        })
      : undefined;

    // 5. fleet drift, with every account's credentials and nothing else.
    delete process.env.HOSTWINDS_API_KEY;
    delete process.env.CLOUDFLARE_API_TOKEN;
    keys.forEach((k, a) => (process.env[`HOSTWINDS_API_KEY__A${a}`] = k));
    tokens.forEach((k, a) => (process.env[`CLOUDFLARE_API_TOKEN__A${a}`] = k));
    hw.refused.clear();
    cf.refused.clear();
    o.progress(`fleet drift of ${o.tenants} tenants`);
    const t1 = Date.now();
    const report = await fleetDrift({ project, concurrency: o.concurrency, localBackend: backend, log: o.progress }, ids);
    const wallS = (Date.now() - t1) / 1000;
    const found = report.tenants.filter((d) => d.drifted).map((d) => d.tenant);
    const errors = report.tenants.filter((d) => d.error);
    if (errors.length) o.progress(`errors: ${errors.map((e) => `${e.tenant}: ${e.error}`).join("; ")}`);
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const refused = { hostwinds: sum(hw.refused), cloudflare: sum(cf.refused) };

    // 6. The inventory alone, side by side: one get_instance_ips per server (the account reports rDNS)
    // against the listing's ips (it does not), on the same accounts, limits on.
    const inventoryWays: FleetScaleResult["inventoryWays"] = [];
    const sources = fleetInventorySources(project, ids)!;
    for (const [way, rdnsInIpList] of [
      ["one get_instance_ips per server (rDNS reported)", true],
      ["the listing's ips (no rDNS reported)", false],
    ] as const) {
      hw.setWire({ rdnsInIpList });
      const t = Date.now();
      const w = await realWorld({ ...sources, cloudflare: [] });
      inventoryWays.push({ way, s: (Date.now() - t) / 1000, hostwindsCalls: w.calls.hostwinds, servers: w.servers.size });
    }
    hw.setWire({ rdnsInIpList: true });
    return {
      inventoryWays,
      tenants: o.tenants,
      accounts,
      injected,
      found,
      exact: JSON.stringify(found) === JSON.stringify(injected) && errors.length === 0,
      wallS,
      inventoryS: report.stats.inventoryS,
      engineS: report.stats.engineS,
      engineRuns: report.stats.engineRuns,
      apiCalls: report.stats.apiCalls,
      servers: o.tenants,
      zones: o.tenants,
      refused,
      imported,
      stackLsS,
      stackLsCapS: o.stackLsCapS,
      directList: { stacks: listedDirect, s: directListS },
      checkpointReadS,
      onPostgres,
      setupS,
    };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await hw.stop();
    await cf.stop();
    fs.rmSync(backendDir, { recursive: true, force: true });
  }
}

export function printFleetScale(r: FleetScaleResult): void {
  console.log(`\nFleet at scale: ${r.tenants} tenants over ${r.accounts} Hostwinds accounts / Cloudflare tokens (limits on)`);
  console.log(`  setup (templates' real up, clones, ${r.imported} through pulumi stack import): ${r.setupS.toFixed(0)} s`);
  const ls = r.stackLsS === undefined ? `> ${r.stackLsCapS} s (stopped)` : `${r.stackLsS.toFixed(1)} s`;
  console.log(`  stack list read from the backend folder directly: ${r.directList.stacks} stacks in ${r.directList.s.toFixed(2)} s`);
  console.log(`  pulumi stack ls: ${ls}; reading ${r.tenants} checkpoints: ${r.checkpointReadS.toFixed(1)} s`);
  console.log(
    `  fleet drift: ${r.wallS.toFixed(1)} s (inventory ${r.inventoryS.toFixed(1)} s, engine ${r.engineS.toFixed(1)} s), ${r.engineRuns} engine runs`,
  );
  console.log(
    `  API calls: Hostwinds ${r.apiCalls.hostwinds} (${r.servers} servers + ${r.accounts} listings), Cloudflare ${r.apiCalls.cloudflare} (${r.zones} zones + zone pages); refused: Hostwinds ${r.refused.hostwinds}, Cloudflare ${r.refused.cloudflare}`,
  );
  console.log(
    `  drift injected in ${r.injected.length}, found in ${r.found.length}: ${r.exact ? "exactly the injected tenants" : `MISMATCH (missed ${r.injected.filter((x) => !r.found.includes(x)).join(",") || "none"}; extra ${r.found.filter((x) => !r.injected.includes(x)).join(",") || "none"})`}`,
  );
  for (const w of r.inventoryWays)
    console.log(`  Hostwinds inventory, ${w.way}: ${w.hostwindsCalls} calls, ${w.s.toFixed(1)} s for ${w.servers} servers`);
  const p = r.onPostgres;
  if (p)
    console.log(
      `  Postgres DIY backend (${p.stacks} stacks, copied in ${p.copyS.toFixed(1)} s): pulumi stack ls ${p.stackLsS === undefined ? `> ${r.stackLsCapS} s (stopped)` : `${p.stackLsS.toFixed(1)} s`}; direct: stack list ${p.directListS.toFixed(2)} s, ${r.tenants} checkpoints ${p.checkpointReadS.toFixed(1)} s${p.exact ? " (same as the folder's)" : " MISMATCH with the folder's"}`,
    );
}
