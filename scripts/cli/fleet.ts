/**
 * `npm run fleet -- <command>`: the tenant stacks as a fleet, for operators and
 * the pipelines in .github/workflows/. See HELP.
 */
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "./engine/pulumi-env";
import { TenantChange } from "./fleet/changes";
import {
  FleetOptions,
  TenantSummary,
  fleetList,
  fleetOrphans,
  fleetPreview,
  fleetUpInWaves,
  fleetVerify,
  selectTenants,
} from "./fleet/commands";
import { renderTable } from "./verify/result";
import { fleetDrift } from "./fleet/drift";
import { WaveOutcome, inWaves, parseWaves } from "./fleet/waves";
import { QueueRunOptions, fleetWorker, runOnQueue } from "./fleet/queue";
import { DriftResult } from "./fleet/commands";
import { progressLine } from "./fleet/pool";
import { renderReport } from "./fleet/report";
import { fleetProject } from "./fleet/tenants";
import { stackManifests } from "./fleet/k8s";
import { recoverStack } from "./fleet/recover";
import { openTenantStack } from "./fleet/stacks";
import { execFileSync } from "child_process";
import { durationOption, intOption, listOption, parseCommandLine, usageError } from "./lib/args";
import { catalogChanges, fetchCatalog, writeCatalog } from "./fleet/catalog";
import { catalogSchema, checkedInCatalog } from "../../providers/hostwinds/catalog";
import { HostwindsClient } from "../../providers/hostwinds/client";
import { DEFAULT_API_URL } from "../../providers/hostwinds/wire";
import { accountFingerprint, probeAccount, renderProbe } from "./fleet/probe";
import {
  backupServerNow,
  exportState,
  importState,
  loadStateArchive,
  rebuildInPlace,
  restoreServer,
  stateRepository,
  storeStateArchive,
} from "./fleet/recovery";
import { ResticAccess, displayRepository } from "./lib/restic";

/** The state repository from --repository / the environment, or undefined when none is set. */
function stateAccess(flags: { repository?: string }): ResticAccess | undefined {
  const base = flags.repository ?? process.env.PENGUINMAILS_BACKUP_REPOSITORY;
  if (!base) return undefined;
  const password = process.env.PENGUINMAILS_STATE_PASSWORD;
  if (!password) usage("the state repository needs its password in PENGUINMAILS_STATE_PASSWORD");
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => /^(AWS_|B2_|AZURE_|GOOGLE_|OS_|ST_|RCLONE_)/.test(e[0]) && e[1] !== undefined,
    ),
  );
  return { repository: stateRepository(base), password, env };
}

/** The repository's top folder (the operator checks out the whole repository). */
function execGitTop(dir: string): string {
  try {
    return fs.realpathSync(
      execFileSync("git", ["rev-parse", "--show-toplevel"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(),
    );
  } catch {
    return dir;
  }
}

const HELP = `usage: npm run fleet -- <command> [options]

commands:
  list                 every tenant stack: servers, sending IPs, monthly cost, last update, drift
  preview              preview tenant stacks with the policy pack; writes a Markdown report
                       (summary, cost before → after, details per tenant) for a PR comment
  up                   apply tenant stacks; one tenant's failure does not stop the others
  drift                lists Hostwinds (servers, their IPs) and Cloudflare (zones, records) in
                       bulk, compares them with the checkpoints, and refresh-previews only the
                       stacks that differ; lists those whose real resources differ from their
                       state and how (kept for 'list'); prints API calls and engine runs
                       (--engine-only: refresh-preview every stack, the old way)
  orphans              Hostwinds servers (marked pm-<tenant>.<server>@<stack>) and IPs that no
                       stack in the backend owns (every stack, every project, pending operations
                       included), with their monthly cost; a dry run unless --release --yes
  recover --tenant T   after a killed run: clears the stack's lock and pending operations by
                       checking each against the Hostwinds account (a server bought → the next
                       up adopts it; not bought → dropped; IP orders → settled by the next up),
                       then pulumi cancel and refresh --clear-pending-creates (--dry-run: only say)
  verify               npm run verify's deliverability checks for every deployed tenant
                       (--resolvers a,b, --blocklists a,b, --no-smtp as in verify)
  matrix               the selected tenants as a CI job matrix: {"include":[{"shard","tenants"}]}
  report FILE…         one Markdown report from the --json output of several preview shards
  k8s-manifests        Pulumi Kubernetes Operator Stack resources, one per tenant (YAML on stdout)
  worker               runs fleet jobs from the Postgres queue (--database), --concurrency at a
                       time, until stopped; any number of workers on any machine that reaches the
                       same Postgres and the same Pulumi backend
  probe                check each assumption about the Hostwinds API (providers/hostwinds/wire.ts
                       ASSUMPTIONS) with calls that cost nothing; prints CONFIRMED / REFUTED /
                       UNKNOWN with the answer's shape; --write records it in the catalogue;
                       --rename SERVICEID also renames that server and restores it (the name check)
  catalog              read what Hostwinds sells (locations, unmanaged plans by rid, public images
                       with UUIDs) and write providers/hostwinds/catalog.json, which tenant configs
                       are checked against and the stand-in sells from (--out FILE, --ip-price USD)
  backup               run a server's backup now (--tenant T --server S), as its timer does daily
  restore              restore a server's MailU data (--tenant T --server S [--snapshot ID]); MailU
                       is stopped meanwhile. A lost server is rebuilt by 'up --refresh' instead,
                       which restores its newest snapshot before MailU starts
  rebuild              rebuild a broken server's OS on the same VPS (--tenant T --server S):
                       Hostwinds' reinstall keeps its IPs (no warm-up restart), then its SSH steps
                       rerun, restoring its newest snapshot before MailU starts
  backup-state         every stack's checkpoint (secrets stay encrypted) in one dated archive,
                       stored in the state repository and/or written to --file
  restore-state        imports the newest (or --snapshot) state archive, or --file, into the
                       current backend, which must not hold those stacks yet

options:
  --changed-since REF  only tenants a change since REF touches (a tenant's config file → that
                       tenant; the program, components, providers, policies, dependencies → all)
  --tenants a,b        only these tenants
  --concurrency N      stacks at once (default 4)
  --shard K/N          only every N-th selected tenant starting at K (1-based), for job matrices
  --shards N           with 'matrix': how many shards (default: 1 per 25 tenants, at most 20)
  --per-tenant         with 'matrix': one entry per tenant (for a concurrency group per tenant),
                       falling back to shards past GitHub's 256 jobs per matrix
  --check              with 'report': exit 1 when a tenant failed or was blocked
  --repo URL           k8s-manifests: the git repository the operator fetches (required)
  --branch B           k8s-manifests: the branch it follows (default main)
  --namespace NS       k8s-manifests: namespace of the Stack resources
  --backend URL        k8s-manifests: the state backend (default PULUMI_BACKEND_URL)
  --credentials NAME   k8s-manifests: Secret with HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN,
                       PULUMI_CONFIG_PASSPHRASE (default penguinmails-credentials)
  --waves P,P,…        up: roll out in waves, cumulative percentages of the selected tenants
                       (default 1,10,100: 1% (at least one), then 10%, then all); the first
                       tenant that fails or is blocked halts the rollout: no later tenant starts
                       (--waves 100: everything at once, still halting at the first problem)
  --queue              preview/up/drift: put one job per tenant on the Postgres queue for the
                       workers and wait for their results (same output); needs --database
  --database URL       Postgres of the queue (default PENGUINMAILS_DATABASE_URL)
  --report FILE        preview/up: write the Markdown report there (default: stdout)
  --no-policy          preview/up without the policy pack (policies/)
  --refresh            up: refresh first, so a server lost behind the stack's back is rebuilt
  --tenant T           backup/restore/rebuild: the tenant; recover: the stack to recover (its name in the backend)
  --server S           backup/restore: the server's logical name (e.g. mx1)
  --snapshot ID        restore/restore-state: that snapshot instead of the newest
  --repository URL     backup-state/restore-state: restic repository base for the state archives
                       (default PENGUINMAILS_BACKUP_REPOSITORY; archives go to <URL>/state); its
                       password is PENGUINMAILS_STATE_PASSWORD, backend credentials the usual
                       environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …)
  --file FILE          backup-state: also write the archive there; restore-state: read it from there
  --json               machine-readable output on stdout
  --release --yes      orphans: release what two scans --grace apart both find unowned, not on a
                       locked or updating stack's server, and older than --min-age
  --dry-run            recover: report what each pending operation is in the account; change nothing
  --force              recover: clear a lock whose holder cannot be checked from here
  --grace D            orphans: time between the two scans (default 10m; 90s, 10m, 1h, 1d)
  --min-age D          orphans: never release a server younger than this (default 1d)
  --out FILE           catalog: where to write (default providers/hostwinds/catalog.json)
  --ip-price USD       catalog: monthly price of one IP to record (Hostwinds publishes none)
  --root DIR           the project (default: this repository)
  -h, --help           this text

Progress goes to stderr. Exit status: 0 when every tenant succeeded (and, for drift, none
drifted); 1 when any failed, was blocked by policy or drifted; 2 for bad usage.
Credentials and backend come from the environment: HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN,
PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE (local dev backend when unset). For fleets on many
machines use Pulumi's Postgres backend, PULUMI_BACKEND_URL=postgres://user:pass@host/db (add
sslmode=disable without TLS); a file:// or postgres:// backend is read directly (stack list,
checkpoints, locks) by drift, orphans and recover, never through 'pulumi stack ls'.`;

const COMMAND = {
  name: "fleet",
  help: HELP,
  positionals: true,
  options: {
    "changed-since": { type: "string" },
    tenants: { type: "string" },
    concurrency: { type: "string" },
    report: { type: "string" },
    root: { type: "string" },
    shard: { type: "string" },
    shards: { type: "string" },
    repo: { type: "string" },
    branch: { type: "string" },
    namespace: { type: "string" },
    backend: { type: "string" },
    credentials: { type: "string" },
    out: { type: "string" },
    "ip-price": { type: "string" },
    rename: { type: "string" },
    write: { type: "boolean" },
    resolvers: { type: "string" },
    blocklists: { type: "string" },
    json: { type: "boolean" },
    release: { type: "boolean" },
    yes: { type: "boolean" },
    "no-policy": { type: "boolean" },
    "per-tenant": { type: "boolean" },
    check: { type: "boolean" },
    "no-smtp": { type: "boolean" },
    grace: { type: "string" },
    tenant: { type: "string" },
    "dry-run": { type: "boolean" },
    force: { type: "boolean" },
    "min-age": { type: "string" },
    "engine-only": { type: "boolean" },
    waves: { type: "string" },
    refresh: { type: "boolean" },
    server: { type: "string" },
    snapshot: { type: "string" },
    repository: { type: "string" },
    file: { type: "string" },
    queue: { type: "boolean" },
    database: { type: "string" },
  },
} as const;

function usage(msg: string): never {
  return usageError("fleet", msg);
}

const usd = (n: number) => `$${n.toFixed(2)}`;

/** The K-th of N shards of a list: every N-th item from K (stable: the same tenant lands in the same shard). */
export function shardOf<T>(items: T[], k: number, n: number): T[] {
  return items.filter((_, i) => i % n === k - 1);
}

async function main(): Promise<number> {
  const { values: flags, positionals } = parseCommandLine(COMMAND);
  const [command, ...files] = positionals;
  const json = flags.json === true;
  if (!command) {
    console.error(HELP);
    return 2;
  }
  if (command !== "report" && files.length) usage(`unexpected argument '${files[0]}'`);
  if (command === "catalog") {
    const price = flags["ip-price"] === undefined ? undefined : Number(flags["ip-price"]);
    if (price !== undefined && !(price >= 0)) usage("--ip-price must be a number of US dollars");
    const out = path.resolve(String(flags.out ?? path.join(projectRoot, "providers/hostwinds/catalog.json")));
    const c = await fetchCatalog({
      apiKey: process.env.HOSTWINDS_API_KEY,
      apiUrl: process.env.HOSTWINDS_API_URL,
      ipMonthlyPriceUsd: price,
      log: (l) => process.stderr.write(`${l}\n`),
    });
    const changes = catalogChanges(checkedInCatalog(), c);
    writeCatalog(out, c);
    if (json) console.log(JSON.stringify(c, null, 1));
    else console.log(changes.length ? changes.join("\n") : "no change in locations, plans or images");
    process.stderr.write(`catalog: wrote ${out}\n`);
    return 0;
  }
  if (command === "probe") {
    const apiKey = process.env.HOSTWINDS_API_KEY;
    if (!apiKey) usage("probe needs a Hostwinds API key in HOSTWINDS_API_KEY (read-only calls)");
    const rename = flags.rename === undefined ? undefined : Number(flags.rename);
    if (rename !== undefined && !(Number.isInteger(rename) && rename > 0))
      usage("--rename needs the service id of a server to rename and restore");
    const apiUrl = process.env.HOSTWINDS_API_URL ?? DEFAULT_API_URL;
    const results = await probeAccount(new HostwindsClient({ apiKey: apiKey!, apiUrl }), {
      renameServiceId: rename,
      ipPurchaseAction: process.env.HOSTWINDS_IP_PURCHASE_ACTION,
      log: (l) => process.stderr.write(`${l}\n`),
    });
    if (json) console.log(JSON.stringify(results, null, 1));
    else console.log(renderProbe(results));
    if (flags.write) {
      const out = path.resolve(String(flags.out ?? path.join(projectRoot, "providers/hostwinds/catalog.json")));
      const c = fs.existsSync(out) ? catalogSchema.parse(JSON.parse(fs.readFileSync(out, "utf8"))) : checkedInCatalog();
      c.probes = { ...c.probes, [accountFingerprint(apiKey!)]: { at: new Date().toISOString(), apiUrl, results } };
      writeCatalog(out, c);
      process.stderr.write(`probe: wrote the result to ${out}\n`);
    }
    return results.some((r) => r.verdict === "REFUTED") ? 1 : 0;
  }
  if (command === "report") {
    if (!files.length) usage("report needs the --json files of the preview shards");
    const results = files.flatMap((f) => {
      try {
        return (JSON.parse(fs.readFileSync(f, "utf8")) as { tenants: TenantChange[] }).tenants;
      } catch (e) {
        throw new Error(`${f}: not the --json output of fleet preview (${(e as Error).message})`);
      }
    });
    console.log(renderReport(results));
    return flags.check && results.some((r) => r.status !== "ok") ? 1 : 0;
  }
  const project = fleetProject(path.resolve(String(flags.root ?? projectRoot)));
  const concurrency = intOption("fleet", "concurrency", flags.concurrency);
  let waves: number[] = [];
  try {
    waves = parseWaves(flags.waves);
  } catch (e) {
    usage((e as Error).message);
  }
  const o: FleetOptions = {
    project,
    concurrency,
    tenants: listOption(flags.tenants),
    changedSince: flags["changed-since"],
    policyPacks: flags["no-policy"] ? undefined : [path.join(projectRoot, "policies")],
    refresh: flags.refresh === true,
    onProgress: (p) => process.stderr.write(`${progressLine(command, p)}\n`),
    log: (l) => process.stderr.write(`${l}\n`),
  };
  const selection = selectTenants(o);
  let tenants = selection.tenants;
  if (typeof flags.shard === "string") {
    const m = /^(\d+)\/(\d+)$/.exec(flags.shard);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) usage("--shard must be K/N with 1 ≤ K ≤ N");
    tenants = shardOf(tenants, Number(m[1]), Number(m[2]));
  }
  if (selection.removed.length)
    process.stderr.write(`fleet: config removed for ${selection.removed.join(", ")}: their stacks are left alone (destroy them by hand)\n`);
  process.stderr.write(
    `fleet ${command}: ${tenants.length} tenant${tenants.length === 1 ? "" : "s"}${o.changedSince ? ` changed since ${o.changedSince}` : ""}\n`,
  );

  const database = flags.database ?? process.env.PENGUINMAILS_DATABASE_URL;
  const queued = flags.queue === true;
  if (queued && !database) usage("--queue needs --database URL (or PENGUINMAILS_DATABASE_URL): the Postgres the workers take jobs from");

  switch (command) {
    case "worker": {
      if (!database) usage("worker needs --database URL (or PENGUINMAILS_DATABASE_URL)");
      await fleetWorker({ url: database, concurrency: concurrency ?? 1, log: (l) => process.stderr.write(`${l}\n`) });
      return 0;
    }
    case "matrix": {
      const perTenant = flags["per-tenant"] === true && tenants.length <= 256;
      const n = perTenant
        ? tenants.length
        : flags.shards
          ? intOption("fleet", "shards", flags.shards)!
          : Math.min(20, Math.max(1, Math.ceil(tenants.length / 25)));
      const shards = tenants.length
        ? Array.from({ length: n }, (_, k) => ({ shard: `${k + 1}/${n}`, tenants: shardOf(tenants, k + 1, n).join(",") })).filter(
            (s) => s.tenants,
          )
        : [];
      console.log(JSON.stringify({ include: shards }));
      return 0;
    }
    case "k8s-manifests": {
      if (typeof flags.repo !== "string") usage("k8s-manifests needs --repo <git URL of this project>");
      console.log(
        stackManifests(tenants, {
          repo: flags.repo,
          branch: flags.branch,
          namespace: flags.namespace,
          backend: flags.backend ?? process.env.PULUMI_BACKEND_URL,
          credentialsSecret: flags.credentials,
          repoDir: path.relative(execGitTop(project.root), project.root) || undefined,
        }),
      );
      return 0;
    }
    case "preview":
    case "up": {
      let halted: WaveOutcome["halted"];
      let results: TenantChange[] = [];
      const onQueue = (batch: string[], halt?: QueueRunOptions["halt"]) =>
        runOnQueue(database!, o, command, batch, { halt }) as Promise<TenantChange[]>;
      if (tenants.length && command === "up") {
        // On the queue the first failed or blocked tenant removes its wave's jobs not yet taken; no later wave is queued.
        const r = queued
          ? await inWaves(tenants, waves, (batch, _stopped, problem) => onQueue(batch, { problem }), o.log)
          : await fleetUpInWaves(o, tenants, waves);
        results = r.results;
        halted = r.outcome.halted;
      } else if (tenants.length) results = queued ? await onQueue(tenants) : await fleetPreview(o, tenants);
      const report = renderReport(results, {
        title: command === "up" ? "Fleet apply" : "Fleet preview",
        footer:
          [
            o.changedSince ? `Tenants changed since \`${o.changedSince}\`.` : "",
            halted
              ? `**Rollout halted in wave ${halted.wave}**: ${halted.tenant} ${halted.status === "blocked" ? "was blocked by policy" : "failed"}; ${halted.notRun.length} tenant${halted.notRun.length === 1 ? " was" : "s were"} not started: ${halted.notRun.join(", ")}.`
              : "",
          ]
            .filter(Boolean)
            .join("\n\n") || undefined,
      });
      if (typeof flags.report === "string") fs.writeFileSync(flags.report, report);
      if (json) console.log(JSON.stringify(halted ? { tenants: results, halted } : { tenants: results }, null, 1));
      else if (typeof flags.report !== "string") console.log(report);
      if (halted)
        process.stderr.write(
          `fleet up: rollout halted in wave ${halted.wave} at ${halted.tenant} (${halted.status}); not started: ${halted.notRun.join(", ") || "none"}\n`,
        );
      const bad = results.filter((r) => r.status !== "ok");
      for (const r of bad) process.stderr.write(`fleet ${command}: ${r.tenant} ${r.status}: ${r.error}\n`);
      process.stderr.write(
        `fleet ${command}: ${results.length - bad.length} of ${results.length} succeeded${bad.length ? `; ${bad.map((r) => `${r.tenant} (${r.status})`).join(", ")} did not` : ""}\n`,
      );
      return bad.length ? 1 : 0;
    }
    case "backup":
    case "restore": {
      if (typeof flags.tenant !== "string" || typeof flags.server !== "string") usage(`${command} needs --tenant T --server S`);
      selectTenants({ ...o, tenants: [flags.tenant] });
      const r =
        command === "backup"
          ? await backupServerNow(o, flags.tenant, flags.server)
          : await restoreServer(o, flags.tenant, flags.server, flags.snapshot ?? "latest");
      console.log(r.output);
      process.stderr.write(`fleet ${command}: ${r.tenant}/${r.server} ${r.ok ? "done" : "FAILED"} in ${(r.ms / 1000).toFixed(1)} s\n`);
      return r.ok ? 0 : 1;
    }
    case "rebuild": {
      if (typeof flags.tenant !== "string" || typeof flags.server !== "string") usage("rebuild needs --tenant T --server S");
      selectTenants({ ...o, tenants: [flags.tenant] });
      const r = await rebuildInPlace(o, flags.tenant, flags.server);
      console.log(
        `${r.tenant}/${r.server}: rebuilt in place (server ${r.serviceId}, main IP ${r.mainIp} kept, sending IPs kept: no warm-up restart) in ${(r.ms / 1000).toFixed(1)} s`,
      );
      return 0;
    }
    case "backup-state": {
      const access = stateAccess(flags);
      if (!access && typeof flags.file !== "string")
        usage("backup-state needs --repository URL (or PENGUINMAILS_BACKUP_REPOSITORY) and/or --file FILE");
      const r = await exportState(o, tenants);
      if (typeof flags.file === "string") fs.writeFileSync(flags.file, r.archive, { mode: 0o600 });
      const snap = access ? await storeStateArchive(access, r.archive, r.name) : undefined;
      console.log(
        `${r.name}: ${r.stacks.length} stack${r.stacks.length === 1 ? "" : "s"} (${r.stacks.join(", ")}), ${r.archive.length} bytes` +
          `${snap ? `, snapshot ${snap} in ${displayRepository(access!.repository)}` : ""}${typeof flags.file === "string" ? `, written to ${flags.file}` : ""}` +
          `${r.missing.length ? `; never deployed: ${r.missing.join(", ")}` : ""}`,
      );
      return 0;
    }
    case "restore-state": {
      const access = stateAccess(flags);
      if (!access && typeof flags.file !== "string")
        usage("restore-state needs --repository URL (or PENGUINMAILS_BACKUP_REPOSITORY) or --file FILE");
      const { archive, from } = await loadStateArchive({ file: flags.file, access, snapshot: flags.snapshot });
      const restored = await importState(o, archive, listOption(flags.tenants));
      console.log(
        `restored ${restored.length} stack${restored.length === 1 ? "" : "s"} (${restored.join(", ")}) from ${from}, made ${archive.createdAt}`,
      );
      return 0;
    }
    case "verify": {
      const results = await fleetVerify(o, tenants, {
        resolvers: listOption(flags.resolvers),
        blocklists: listOption(flags.blocklists),
        smtp: flags["no-smtp"] ? false : {},
      });
      if (json) console.log(JSON.stringify({ tenants: results }, null, 1));
      else
        for (const t of results)
          console.log(
            t.error
              ? `${t.tenant}: could not verify: ${t.error}`
              : `${t.tenant}:\n${renderTable(t.results)
                  .split("\n")
                  .map((l) => `  ${l}`)
                  .join("\n")}`,
          );
      return results.some((t) => t.error || t.results.some((r) => r.status === "fail")) ? 1 : 0;
    }
    case "drift": {
      const { tenants: results, stats } = await fleetDrift(o, tenants, {
        engineOnly: flags["engine-only"] === true,
        engine: queued ? (t) => runOnQueue(database!, o, "drift", t) as Promise<DriftResult[]> : undefined,
      });
      if (json) console.log(JSON.stringify({ tenants: results, stats }, null, 1));
      else
        for (const d of results)
          console.log(
            d.error
              ? `${d.tenant}: could not check: ${d.error}`
              : d.drifted
                ? `${d.tenant}: DRIFTED\n${d.changes.map((c) => `  ${c}`).join("\n")}`
                : `${d.tenant}: clean`,
          );
      process.stderr.write(
        `fleet drift: ${stats.tenants} tenants, ${stats.engineRuns} engine run${stats.engineRuns === 1 ? "" : "s"}, API calls: Hostwinds ${stats.apiCalls.hostwinds}, Cloudflare ${stats.apiCalls.cloudflare}; inventory ${stats.inventoryS.toFixed(1)} s, engine ${stats.engineS.toFixed(1)} s${stats.inventorySkipped ? ` (inventory skipped: ${stats.inventorySkipped})` : ""}\n`,
      );
      return results.some((d) => d.drifted || d.error) ? 1 : 0;
    }
    case "list": {
      const rows: TenantSummary[] = await fleetList(o, tenants);
      if (json) console.log(JSON.stringify({ tenants: rows }, null, 1));
      else {
        console.log(
          `${"tenant".padEnd(20)} ${"servers".padStart(7)} ${"IPs".padStart(4)} ${"$/month".padStart(9)}  ${"last update".padEnd(24)} drift`,
        );
        for (const r of rows)
          console.log(
            `${r.tenant.padEnd(20)} ${String(r.servers).padStart(7)} ${String(r.sendingIps).padStart(4)} ${usd(r.monthlyCostUsd).padStart(9)}  ${(r.lastUpdate ?? "never").padEnd(24)} ${r.drift}${r.error ? ` (${r.error})` : ""}`,
          );
        console.log(
          `${"total".padEnd(20)} ${String(rows.reduce((s, r) => s + r.servers, 0)).padStart(7)} ${String(rows.reduce((s, r) => s + r.sendingIps, 0)).padStart(4)} ${usd(rows.reduce((s, r) => s + r.monthlyCostUsd, 0)).padStart(9)}`,
        );
      }
      return rows.some((r) => r.drift === "error") ? 1 : 0;
    }
    case "recover": {
      if (typeof flags.tenant !== "string") usage("recover needs --tenant <stack>");
      const stack = await openTenantStack(project, flags.tenant, 0, {}, false);
      const r = await recoverStack(stack, { dryRun: flags["dry-run"] === true, force: flags.force === true, log: o.log });
      if (json) console.log(JSON.stringify(r, null, 1));
      else
        console.log(
          `${r.stack}: ${r.lock}; ${r.pending.length} pending operation${r.pending.length === 1 ? "" : "s"}${r.cleared ? "; cleared: run fleet up (or pulumi up) next" : " (dry run: nothing changed)"}`,
        );
      return 0;
    }
    case "orphans": {
      if (flags.release && !flags.yes) usage("--release releases what is listed and cannot be undone: add --yes");
      const r = await fleetOrphans(o, {
        release: flags.release === true && flags.yes === true,
        graceMs: durationOption("fleet", "grace", flags.grace),
        minAgeMs: durationOption("fleet", "min-age", flags["min-age"]),
      });
      if (json) console.log(JSON.stringify(r, null, 1));
      else {
        for (const x of r.orphans)
          console.log(
            `${x.released ? "released" : x.held ? "held" : "orphan"}  ${x.kind.padEnd(6)} ${(x.ip ?? "").padEnd(16)} ${x.server} (${x.serviceId})  ${usd(x.monthlyUsd)}/month${x.held && !x.released ? `  (held: ${x.held})` : ""}`,
          );
        console.log(
          `${r.orphans.length} orphan${r.orphans.length === 1 ? "" : "s"}, ${usd(r.monthlyUsd)}/month${r.released ? ", released" : r.orphans.length ? " (dry run: --release --yes releases them)" : ""}`,
        );
      }
      return 0;
    }
    default:
      usage(`unknown command '${command}'`);
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(`fleet: ${e.message}`);
      process.exit(1);
    },
  );
}
