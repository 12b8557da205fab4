/**
 * `npm run bench`: measurements side by side in one run, never pass/fail
 * timings (these machines are shared and noisy). Sections:
 *   standin   the Hostwinds stand-in under load with faults on
 *   provider  the Hostwinds provider through the engine: __provider size,
 *             calls per refresh, up time against the purchase floor
 *   fleet     fleet preview of N tenant stacks against plain previews in a row
 *   service   the provisioning service: request → assigned against the IP delay, requests/minute
 *   fleet-scale  a synthetic fleet cloned from real checkpoints: inventory drift at N tenants
 *   backup    the recovery drill: backup and restore throughput, RPO and RTO of a lost server
 *   console   the operator console's pages and the cost report at fleet size (seeded Postgres)
 *   mailboxes  250 mailboxes created on one server, then 1 changed: wall time and SSH round trips
 *   worker-memory  one long-lived engine worker's RSS over N tenant previews (100, 500, 1,000)
 *   invariants  the invariants harness (scripts/dev/invariants.ts): seeded random operations on
 *             three tenants sharing an account and a zone, invariants checked after every step
 */
import * as os from "os";
import { fleetBench, printFleetBench } from "./bench/fleet-preview";
import { loadTest, printLoadTest } from "./bench/standin-load";
import { printProviderBench, providerBench } from "./bench/hostwinds-provider";
import { ServiceEngineMode, printServiceBench, serviceBench } from "./bench/service";
import { consoleBench, printConsoleBench } from "./bench/console";
import { parseCommandLine } from "../lib/args";
import { fleetScaleBench, printFleetScale } from "./bench/fleet-scale";
import { fleetWorkersBench, printFleetWorkers } from "./bench/fleet-workers";
import { COMPILE_CACHE_VARIANTS, beforeAndNow, previewProfile, printPreviewProfile } from "./bench/preview-profile";

import { disasterDrill, printDrill } from "./disaster";
import { domainVerificationBench, printDomainVerification } from "./bench/domain-verification";
import { FINDINGS, Finding, freshProcess, printFindings, printInvariants, runFindings, runInvariants } from "./invariants";
import { mailboxesBench, printMailboxesBench } from "./bench/mailboxes";
import { printWorkerMemory, workerMemoryBench } from "./bench/worker-memory";
import { VaultTransitSim } from "./standins/vault-transit";
import * as crypto from "crypto";

const HELP = `usage: npm run bench -- [--only standin|provider|fleet|service|backup|domains|mailboxes|fleet-scale|profile|worker-memory|invariants|console] [options]

Sections (all by default):
  domains    verification of 1 and of 50 sending domains (what the service runs after an apply
             and on "Re-verify DNS"), against DNS stand-ins on loopback
  standin    load test of the Hostwinds stand-in with faults on
             --requests N (4000)  --clients N (64)
  provider   the Hostwinds provider through the Pulumi engine
             --ips N (4)  --ip-delay-ms D (15000)  --refresh-sizes 1,5,20
  fleet      fleet preview of N small tenant stacks vs plain 'pulumi preview' in a row
             --fleet-sizes 10,50 (add 200 for the long run)  --concurrency N (cores)
             --fleet-inline yes: the fleet side runs --inline (engine workers, their start counted)
             --rounds N (5: the stacks in N batches, each previewed both ways in turn)
  service    the provisioning service: request → assigned time against the stand-in's IP
             delay (ratio; target ≤ 1.2), and requests/minute across many tenants
             --service-ip-delay-ms D (20000)  --service-tenants N (10; 50 for the full run)
             --service-concurrency N (4)
             --service-modes cli,inline (both side by side: the CLI program per request
             against the slot's engine worker)  --service-rounds N (1; modes alternate)
  profile    CPU of one tenant preview by process (CLI, language host, program, dynamic
             providers, policy pack, engine worker), from /proc: the CLI program against the
             program inline in a warm engine worker (fleet --inline), for a preview and an up
             with no change, and a plain pulumi preview by hand (only with --only profile)
             --rounds N (3; the median is printed)
             --compile-cache yes instead: Node's compile cache off and on side by side
             --before DIR instead: a built older checkout (npm ci and npm run build done there)
             against this one, on both paths (plain pulumi preview, fleet preview), in turn
             --cpu-prof-dir DIR also writes a V8 CPU profile of each Node process there
  worker-memory  one long-lived engine worker (fleet preview --inline, one slot): N small tenant
             previews through it, its RSS (and peak) after the first tenant and after 100, 500
             and 1,000, with wall time per tenant (only with --only worker-memory)
             --tenants N (1000)  --marks 100,500,1000 (the counts reported at, besides the
             first and the last)  --heap-snapshot-dir DIR (a heap snapshot of the worker at
             each of them too: node dist/scripts/dev/heap-diff.js A B compares two)
  fleet-scale  fleet drift of a synthetic fleet cloned from real checkpoints, ~1% drift
             injected, the stand-ins' limits on (only with --only fleet-scale)
             --tenants N (300; 10000 for the full figure)  --per-account N (1000 tenants
             per Hostwinds account and Cloudflare token)  --import-sample N (5 clones go in
             through pulumi stack import)  --concurrency N (cores); then 1 vs 2 vs 4
             fleet worker processes on the Postgres queue: --worker-tenants N (12)
             --workers 1,2,4 (none: skip)  --stack-ls-cap S (120: pulumi stack ls is stopped
             after S seconds and reported as "> S s")  --postgres-backend yes (also copy the
             checkpoints into Pulumi's Postgres DIY backend: stack ls vs direct reads there)
  backup     the recovery drill (npm run demo -- --disaster) with a bigger mailbox: backup and
             restore throughput, RPO, RTO of a server lost and rebuilt (needs root, restic, rclone)
             --backup-messages N (200)  --backup-message-kib K (256)
  mailboxes  D domains × M mailboxes on one server through the engine (SSH-host stand-in, needs
             root): MailU installed first, then the mailboxes created in one up, then one
             changed; wall time and SSH round trips of each
             --mailbox-domains D (50)  --mailboxes-per-domain M (5)
  invariants the invariants harness (only with --only invariants): seeded random operations
             (up, scale, --target, destroy, kills, two writers, held/refused orders, 503s,
             rate-limit storms, hostile configs) on 3 tenants sharing an account and a zone,
             every invariant checked after every step; a violation prints its seed and step
             --seed N (1; a list: 1,2,3)  --steps N (500 in all, shared by the seeds)
             --findings yes|NAME,…: findings mode instead: each finding of issue 31 put back by
             its switch (${Object.keys(FINDINGS).join(", ")})
             must be found by the harness (its seed and steps are fixed in invariants.ts)
  console    the operator console's fleet overview and tenant page, and the cost report, on a
             private Postgres seeded with N tenants and 90 days of usage (only with --only console)
             --console-tenants N (10000)  --rounds N (5)

Any section: --secrets vault encrypts the benches' new stacks with a Vault transit stand-in's key
  on loopback (a key management service, as production stacks use one) instead of the development
  passphrase, whose key derivation costs every pulumi process ~0.15-0.3 s of CPU

Prints figures; exits non-zero only when a correctness check fails
(purchases lost or doubled).`;

const COMMAND = {
  name: "bench",
  help: HELP,
  options: Object.fromEntries(
    [
      "only",
      "requests",
      "clients",
      "ips",
      "ip-delay-ms",
      "refresh-sizes",
      "fleet-sizes",
      "fleet-inline",
      "concurrency",
      "service-ip-delay-ms",
      "service-tenants",
      "service-concurrency",
      "service-modes",
      "service-rounds",
      "tenants",
      "marks",
      "heap-snapshot-dir",
      "per-account",
      "import-sample",
      "stack-ls-cap",
      "postgres-backend",
      "worker-tenants",
      "workers",
      "backup-messages",
      "backup-message-kib",
      "cpu-prof-dir",
      "before",
      "compile-cache",
      "rounds",
      "seed",
      "steps",
      "findings",
      "console-tenants",
      "mailbox-domains",
      "mailboxes-per-domain",
      "secrets",
    ].map((k) => [k, { type: "string" }]),
  ) as Record<string, { type: "string" }>,
};
const { values } = parseCommandLine(COMMAND);
const arg = (name: string, dflt: string): string => values[name] ?? dflt;

async function main() {
  const only = arg("only", "");
  const vault = await secretsFor(arg("secrets", "passphrase"));
  try {
    await sections(only);
  } finally {
    await vault?.stop();
  }
}

/** `--secrets vault`: a Vault transit stand-in whose key every stack a bench makes is encrypted with (as the tests' are). */
async function secretsFor(secrets: string): Promise<VaultTransitSim | undefined> {
  if (secrets === "passphrase") return undefined;
  if (secrets !== "vault") throw new Error(`--secrets ${secrets}: give vault or passphrase`);
  const vault = await new VaultTransitSim({ token: crypto.randomBytes(16).toString("hex") }).start();
  Object.assign(process.env, vault.env(), { PENGUINMAILS_SECRETS_PROVIDER: VaultTransitSim.providerUrl("penguinmails-bench") });
  process.stderr.write("  … stacks encrypted with a Vault transit stand-in's key (--secrets vault)\n");
  return vault;
}

// eslint-disable-next-line max-lines-per-function -- the benchmark list read top to bottom: each `--only` block runs one bench and prints its ratio
async function sections(only: string) {
  if (!only || only === "standin") {
    const ok = printLoadTest(await loadTest(Number(arg("requests", "4000")), Number(arg("clients", "64"))));
    if (!ok) process.exitCode = 1;
  }
  if (!only || only === "provider") {
    const r = await providerBench({
      ipCount: Number(arg("ips", "4")),
      ipDelayMs: Number(arg("ip-delay-ms", "15000")),
      refreshSizes: arg("refresh-sizes", "1,5,20").split(",").map(Number),
      progress: (l) => process.stderr.write(`  … ${l}\n`),
    });
    printProviderBench(r);
  }
  if (only === "profile")
    printPreviewProfile(
      await previewProfile((l) => process.stderr.write(`  … ${l}\n`), {
        rounds: Number(arg("rounds", "3")),
        cpuProfDir: values["cpu-prof-dir"],
        variants: values["before"] ? beforeAndNow(values["before"]) : values["compile-cache"] ? COMPILE_CACHE_VARIANTS : undefined,
      }),
    );
  if (only === "invariants" && values.findings) {
    const names = values.findings === "yes" ? undefined : (values.findings.split(",") as Finding[]);
    const bad = names?.filter((n) => !(n in FINDINGS));
    if (bad?.length) throw new Error(`--findings: no finding named ${bad.join(", ")}; one of ${Object.keys(FINDINGS).join(", ")}`);
    const rs = await runFindings(freshProcess, names, (l) => process.stderr.write(`  … ${l}\n`));
    if (!printFindings(rs)) process.exitCode = 1;
  } else if (only === "invariants") {
    const seeds = arg("seed", "1").split(",").map(Number);
    const steps = Number(arg("steps", "500"));
    const results = [];
    for (const seed of seeds)
      results.push(
        await runInvariants({
          seed,
          steps: Math.ceil(steps / seeds.length),
          fresh: freshProcess,
          log: (l) => process.stderr.write(`  … seed ${seed} ${l}\n`),
        }),
      );
    if (!printInvariants(results)) process.exitCode = 1;
  }
  if (only === "worker-memory") {
    const r = await workerMemoryBench(Number(arg("tenants", "1000")), (l) => process.stderr.write(`  … ${l}\n`), {
      marks: arg("marks", "100,500,1000").split(",").map(Number),
      snapshotDir: values["heap-snapshot-dir"] || undefined,
    });
    printWorkerMemory(r);
    if (r.failed > 0) process.exitCode = 1;
  }
  if (only === "console")
    printConsoleBench(
      await consoleBench({
        tenants: Number(arg("console-tenants", "10000")),
        rounds: Number(arg("rounds", "5")),
        progress: (l) => process.stderr.write(`  … ${l}\n`),
      }),
    );
  if (only === "fleet-scale") {
    const r = await fleetScaleBench({
      tenants: Number(arg("tenants", "300")),
      perAccount: Number(arg("per-account", "1000")),
      importSample: Number(arg("import-sample", "5")),
      stackLsCapS: Number(arg("stack-ls-cap", "120")),
      postgres: arg("postgres-backend", "no") !== "no",
      concurrency: Number(arg("concurrency", String(os.cpus().length))),
      progress: (l) => process.stderr.write(`  … ${l}\n`),
    });
    printFleetScale(r);
    if (!r.exact || r.refused.cloudflare + r.refused.hostwinds > 0) process.exitCode = 1;
    const workers = arg("workers", "1,2,4");
    if (workers !== "none") {
      const w = await fleetWorkersBench(Number(arg("worker-tenants", "12")), workers.split(",").map(Number), (l) =>
        process.stderr.write(`  … ${l}\n`),
      );
      printFleetWorkers(w);
      if (w.rows.some((x) => x.failed > 0) || w.refused.cloudflare + w.refused.hostwinds > 0) process.exitCode = 1;
    }
  }
  if (!only || only === "fleet") {
    const r = await fleetBench(
      arg("fleet-sizes", "10,50").split(",").map(Number),
      Number(arg("concurrency", String(os.cpus().length))),
      (l) => process.stderr.write(`  … ${l}\n`),
      Number(arg("rounds", "5")),
      values["fleet-inline"] === "yes",
    );
    printFleetBench(r);
    if (r.rows.some((x) => x.failed > 0)) process.exitCode = 1;
  }
  if (!only || only === "service") {
    const r = await serviceBench({
      ipDelayMs: Number(arg("service-ip-delay-ms", "20000")),
      tenants: Number(arg("service-tenants", "10")),
      concurrency: Number(arg("service-concurrency", "4")),
      modes: arg("service-modes", "cli,inline").split(",") as ServiceEngineMode[],
      rounds: Number(arg("service-rounds", "1")),
      progress: (l) => process.stderr.write(`  … ${l}\n`),
    });
    printServiceBench(r);
    if (r.throughput && (r.throughput.failed > 0 || r.throughput.ipsBought !== r.throughput.ipsAsked)) process.exitCode = 1;
  }
  if (!only || only === "domains") printDomainVerification(await domainVerificationBench());
  if (!only || only === "mailboxes")
    printMailboxesBench(
      await mailboxesBench({
        domains: Number(arg("mailbox-domains", "50")),
        perDomain: Number(arg("mailboxes-per-domain", "5")),
        progress: (l) => process.stderr.write(`  … ${l}\n`),
      }),
    );
  if (!only || only === "backup") {
    const r = await disasterDrill({
      messages: Number(arg("backup-messages", "200")),
      messageBytes: Number(arg("backup-message-kib", "256")) * 1024,
      say: (l) => process.stderr.write(`  … ${l}\n`),
    });
    printDrill(r);
    if (!r.mailboxBack || !r.dkimSame || !r.dnsAtNewIp) process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
