/**
 * The help of `npm run fleet`: the whole of it (every command, every option) and each command's
 * own (`fleet <command> --help`: its summary and the options it reads), both from one table.
 */
import type { FleetCommand } from "./command";

interface OptionHelp {
  flag: string;
  lines: string[];
  /** The commands that read it; every command when absent… */
  for?: string[];
  /** …but these. */
  except?: string[];
}

/** The commands that work on a selection of tenant stacks. */
const SELECTING = ["list", "preview", "up", "drift", "verify", "matrix", "k8s-manifests", "backup-state"];
const NOT_ON_STACKS = ["catalog", "probe", "report"];

/** In the order the help lists them. */
const OPTIONS: OptionHelp[] = [
  {
    flag: "--changed-since REF",
    lines: [
      "only tenants a change since REF touches (a tenant's config file → that",
      "tenant; the program, components, providers, policies, dependencies → all)",
    ],
    for: SELECTING,
  },
  { flag: "--tenants a,b", lines: ["only these tenants"], for: [...SELECTING, "restore-state"] },
  { flag: "--concurrency N", lines: ["stacks at once (default 4)"], for: [...SELECTING, "worker"] },
  { flag: "--shard K/N", lines: ["only every N-th selected tenant starting at K (1-based), for job matrices"], for: SELECTING },
  { flag: "--shards N", lines: ["with 'matrix': how many shards (default: 1 per 25 tenants, at most 20)"], for: ["matrix"] },
  {
    flag: "--per-tenant",
    lines: [
      "with 'matrix': one entry per tenant (for a concurrency group per tenant),",
      "falling back to shards past GitHub's 256 jobs per matrix",
    ],
    for: ["matrix"],
  },
  { flag: "--check", lines: ["with 'report': exit 1 when a tenant failed or was blocked"], for: ["report"] },
  { flag: "--repo URL", lines: ["k8s-manifests: the git repository the operator fetches (required)"], for: ["k8s-manifests"] },
  { flag: "--branch B", lines: ["k8s-manifests: the branch it follows (default main)"], for: ["k8s-manifests"] },
  { flag: "--namespace NS", lines: ["k8s-manifests: namespace of the Stack resources"], for: ["k8s-manifests"] },
  { flag: "--backend URL", lines: ["k8s-manifests: the state backend (default PULUMI_BACKEND_URL)"], for: ["k8s-manifests"] },
  {
    flag: "--credentials NAME",
    lines: [
      "k8s-manifests: Secret with HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN,",
      "PULUMI_CONFIG_PASSPHRASE (default penguinmails-credentials)",
    ],
    for: ["k8s-manifests"],
  },
  {
    flag: "--waves P,P,…",
    lines: [
      "up: roll out in waves, cumulative percentages of the selected tenants",
      "(default 1,10,100: 1% (at least one), then 10%, then all); the first",
      "tenant that fails or is blocked halts the rollout: no later tenant starts",
      "(--waves 100: everything at once, still halting at the first problem)",
    ],
    for: ["up"],
  },
  {
    flag: "--queue",
    lines: [
      "preview/up/drift: put one job per tenant on the Postgres queue for the",
      "workers and wait for their results (same output); needs --database",
    ],
    for: ["preview", "up", "drift"],
  },
  {
    flag: "--database URL",
    lines: ["Postgres of the queue (default PENGUINMAILS_DATABASE_URL)"],
    for: ["preview", "up", "drift", "worker"],
  },
  { flag: "--report FILE", lines: ["preview/up: write the Markdown report there (default: stdout)"], for: ["preview", "up"] },
  { flag: "--no-policy", lines: ["preview/up without the policy pack (policies/)"], for: ["preview", "up"] },
  { flag: "--refresh", lines: ["up: refresh first, so a server lost behind the stack's back is rebuilt"], for: ["up"] },
  {
    flag: "--no-inline",
    lines: [
      "preview/up/worker: run the tenant program in a new Node process per tenant",
      "(the CLI program) instead of the default: inline in one long-lived engine",
      "worker process per --concurrency slot (SDK and program load once); the",
      "result is the same (--inline, the default, is accepted)",
    ],
    for: ["preview", "up", "worker"],
  },
  {
    flag: "--tenant T",
    lines: ["backup/restore/rebuild: the tenant; recover: the stack to recover (its name in the backend)"],
    for: ["backup", "restore", "rebuild", "recover"],
  },
  { flag: "--server S", lines: ["backup/restore: the server's logical name (e.g. mx1)"], for: ["backup", "restore", "rebuild"] },
  { flag: "--snapshot ID", lines: ["restore/restore-state: that snapshot instead of the newest"], for: ["restore", "restore-state"] },
  {
    flag: "--repository URL",
    lines: [
      "backup-state/restore-state: restic repository base for the state archives",
      "(default PENGUINMAILS_BACKUP_REPOSITORY; archives go to <URL>/state); its",
      "password is PENGUINMAILS_STATE_PASSWORD, backend credentials the usual",
      "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, …)",
    ],
    for: ["backup-state", "restore-state"],
  },
  {
    flag: "--file FILE",
    lines: ["backup-state: also write the archive there; restore-state: read it from there"],
    for: ["backup-state", "restore-state"],
  },
  {
    flag: "--json",
    lines: ["machine-readable output on stdout"],
    for: ["list", "preview", "up", "drift", "orphans", "recover", "verify", "catalog", "probe"],
  },
  {
    flag: "--release --yes",
    lines: [
      "orphans: release what two scans --grace apart both find unowned, not on a",
      "locked or updating stack's server, and older than --min-age",
    ],
    for: ["orphans"],
  },
  { flag: "--dry-run", lines: ["recover: report what each pending operation is in the account; change nothing"], for: ["recover"] },
  { flag: "--force", lines: ["recover: clear a lock whose holder cannot be checked from here"], for: ["recover"] },
  { flag: "--grace D", lines: ["orphans: time between the two scans (default 10m; 90s, 10m, 1h, 1d)"], for: ["orphans"] },
  { flag: "--min-age D", lines: ["orphans: never release a server younger than this (default 1d)"], for: ["orphans"] },
  {
    flag: "--out FILE",
    lines: ["catalog, probe --write: where to write (default providers/hostwinds/catalog.json)"],
    for: ["catalog", "probe"],
  },
  { flag: "--write", lines: ["probe: record the verdicts in the catalogue, where the client reads them"], for: ["probe"] },
  {
    flag: "--rename SERVICEID",
    lines: ["probe: also rename that server and restore its name (does the panel keep ours?)"],
    for: ["probe"],
  },
  { flag: "--ip-price USD", lines: ["catalog: monthly price of one IP to record (Hostwinds publishes none)"], for: ["catalog"] },
  { flag: "--root DIR", lines: ["the project (default: this repository)"], except: NOT_ON_STACKS },
  { flag: "-h, --help", lines: ["this text"] },
];

const FOOTER = `Progress goes to stderr. Exit status: 0 when every tenant succeeded (and, for drift, none
drifted); 1 when any failed, was blocked by policy or drifted; 2 for bad usage.
Credentials and backend come from the environment: HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN,
PULUMI_BACKEND_URL (local dev backend when unset) and, for any backend but the local dev one, a
secrets provider: PULUMI_CONFIG_PASSPHRASE_FILE, PULUMI_CONFIG_PASSPHRASE (not the dev one) or
PENGUINMAILS_SECRETS_PROVIDER=awskms://…|azurekeyvault://…|gcpkms://…|hashivault://… (new stacks
get it; without one nothing runs). For fleets on many
machines use Pulumi's Postgres backend, PULUMI_BACKEND_URL=postgres://user:pass@host/db (add
sslmode=disable without TLS); a file:// or postgres:// backend is read directly (stack list,
checkpoints, locks) by drift, orphans and recover, never through 'pulumi stack ls'.`;

/** A term and its lines as the help lays them out: the term in a 20-column field, the text beside it. */
const entry = (term: string, lines: string[]) => lines.map((l, i) => `  ${(i ? "" : term).padEnd(20)} ${l}`).join("\n");

const readBy = (o: OptionHelp, command: string) => (o.for ?? [command]).includes(command) && !o.except?.includes(command);

/** `npm run fleet -- --help`: every command and every option. */
export function fleetHelp(commands: FleetCommand[]): string {
  return `usage: npm run fleet -- <command> [options]

commands:
${commands.map((c) => entry(c.synopsis ?? c.name, c.summary)).join("\n")}

options:
${OPTIONS.map((o) => entry(o.flag, o.lines)).join("\n")}

${FOOTER}`;
}

/** `npm run fleet -- <command> --help`: what it does and the options it reads. */
export function commandHelp(c: FleetCommand): string {
  return `usage: npm run fleet -- ${c.synopsis ?? c.name} [options]

${c.summary.join("\n")}

options:
${OPTIONS.filter((o) => readBy(o, c.name))
  .map((o) => entry(o.flag, o.lines))
  .join("\n")}

${FOOTER}`;
}
