/**
 * `npm run service -- [serve|token|openapi|migrate] [options]`: the provisioning service. See HELP.
 */
import { getServers } from "dns";
import { Pool } from "pg";
import { createToken, publicToken } from "./tokens";
import { redeliver } from "./webhooks";
import { channelsFrom } from "./notify";
import { listTokens, revokeToken } from "./store/tokens";
import { listUndelivered } from "./store/webhooks";
import { startService, type ServiceOptions } from "./index";
import { cloudflareSettings } from "../providers/cloudflare/client";
import { OPENAPI } from "./openapi";
import { credentialKey } from "./credentials";
import { migrate, openPool } from "../scripts/lib/postgres/index";
import { intOption, listOption, parseCommandLine, usageError } from "../scripts/lib/args";

const HELP = `usage: npm run service -- [serve] [options]
       npm run service -- token --caller NAME --tenants a,b|'*' [--expires-in-days N] [--rate-per-minute N]
       npm run service -- tokens | revoke-token ID
       npm run service -- webhooks [--tenant T] | redeliver ID
       npm run service -- openapi | migrate

serve (default): the provisioning service. Applies its migrations, then serves the HTTP API
(GET /openapi.json), carries out requests from a job queue on the same Postgres (one tenant at
a time per tenant, tenants side by side), delivers webhooks, and monitors every tenant's IPs.
Each request becomes a commit to stacks/Pulumi.<tenant>.yaml in the config repository, pushed,
then applied with the policy pack; its lifecycle is in Postgres (docs/platform-integrators.md).

  --database URL         Postgres connection string (or DATABASE_URL)
  --config-repo URL      the config repository to clone, commit to and push to (a URL or path)
  --branch NAME          its branch (default main)
  --clones DIR           where the service keeps its clones (default .pulumi-dev/service/clones)
  --listen HOST:PORT     the API's address (default 127.0.0.1:8080; port 0 picks one)
  --concurrency N        tenants applied at once (default 4)
  --local-backend NAME   local backend folder when PULUMI_BACKEND_URL is not set (dev)
  --no-inline            run each request's up as a CLI program (a Node process per request)
                         instead of inline in the slot's long-lived engine worker
  --webhook-url URL      where status changes and alerts are POSTed (secret: PENGUINMAILS_WEBHOOK_SECRET)
  --monitor-every S      seconds between monitoring passes (default 300; 0 = off)
  --resolver ADDR        resolver for the blocklist checks (ip or ip:port; default this machine's)
  --resolvers a,b        public resolvers a domain's verification judges propagation by (default --resolver)
  --authoritative a,b    the zones' authoritative servers for domain verification (default: looked up, NS)
  --blocklists a,b       DNS blocklist zones (default zen.spamhaus.org)
  --mta-sts-host ADDR    fetch every domain's MTA-STS policy from ADDR (host or host:port; tests);
                         --no-mta-sts judges only the _mta-sts TXT (servers with no MailU yet)
  --smtp-host ADDR       reach every server's SMTP at ADDR (tests); --no-smtp skips SMTP checks
  --smtp-ports 25=2525,… port mapping for the SMTP checks (tests)
  --domains-every N      the monitor verifies a verified domain every N passes (default 12; failing and
                         pending ones every pass)
  --no-server-checks     no checks over SSH (held mail on the relay, disk, memory, backup age)
  --held-mail-over N     held and deferred messages on a server's relay that open an incident (default 500)
  --backup-max-age H     hours the newest backup may be old before an incident (default 26: daily)
  --dead-after S         a service process silent this long has its jobs taken over (default 30)
  --webhook-concurrency N  webhook deliveries at once, on workers of their own (default 4)
  --webhook-timeout S    seconds one delivery waits for the receiver's answer before it is tried again (default 5)
  --retention-days N     days monitoring results and delivered webhooks are kept (default 90)
  --operator-email ADDR  incidents are also mailed to ADDR (after the webhook), through --mail-relay
  --mail-relay HOST:PORT the SMTP server incident mail goes through (default 127.0.0.1:25)
  --mail-from ADDR       the incident mail's sender (default penguinmails-service@localhost)
  --escalate-after MIN   an incident unacknowledged this long goes to the next channel (default 30);
                         the last channel is a Slack-compatible webhook when
                         PENGUINMAILS_SLACK_WEBHOOK_URL is set

token: makes an API token for a caller and the tenants it may act for ('*' = all) and prints it
(only its hash is stored); tokens lists them, revoke-token ends one. webhooks lists the events not
delivered (after ~4 days of tries, or still trying); redeliver ID sends one again.
openapi: prints the API's OpenAPI document. migrate: applies migrations.
Provider credentials come from the environment (HOSTWINDS_API_KEY, CLOUDFLARE_API_TOKEN, …) or the
stacks' secret config, as for \`npm run fleet\`. PENGUINMAILS_BACKUP_REPOSITORY (a restic repository
URL): every tenant onboarded through POST /tenants backs its servers up there (secret config
penguinmails-infra:backup), and offboarding's final backup goes there.`;

const COMMAND = {
  name: "service",
  help: HELP,
  positionals: true,
  options: {
    database: { type: "string" },
    "config-repo": { type: "string" },
    branch: { type: "string" },
    clones: { type: "string" },
    listen: { type: "string" },
    concurrency: { type: "string" },
    "local-backend": { type: "string" },
    "no-inline": { type: "boolean" },
    "webhook-url": { type: "string" },
    "monitor-every": { type: "string" },
    resolver: { type: "string" },
    resolvers: { type: "string" },
    authoritative: { type: "string" },
    blocklists: { type: "string" },
    "smtp-host": { type: "string" },
    "smtp-ports": { type: "string" },
    "no-smtp": { type: "boolean" },
    "mta-sts-host": { type: "string" },
    "no-mta-sts": { type: "boolean" },
    "dead-after": { type: "string" },
    "domains-every": { type: "string" },
    "no-server-checks": { type: "boolean" },
    "held-mail-over": { type: "string" },
    "backup-max-age": { type: "string" },
    caller: { type: "string" },
    tenants: { type: "string" },
    tenant: { type: "string" },
    "expires-in-days": { type: "string" },
    "rate-per-minute": { type: "string" },
    "webhook-concurrency": { type: "string" },
    "webhook-timeout": { type: "string" },
    "retention-days": { type: "string" },
    "operator-email": { type: "string" },
    "mail-relay": { type: "string" },
    "mail-from": { type: "string" },
    "escalate-after": { type: "string" },
  },
} as const;

/** `--mta-sts-host host[:port]` as the policy fetch's target; none: each mta-sts.<domain> by its DNS name. */
function mtaStsTarget(v: string | boolean | undefined): { host?: string; port?: number } {
  if (typeof v !== "string") return {};
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) usageError("service", `--mta-sts-host must be HOST or HOST:PORT (got '${v}')`);
  return { host: m![1], ...(m![2] ? { port: Number(m![2]) } : {}) };
}

/** The thresholds of the server checks the flags set (the rest: service/server-checks.ts DEFAULT_SERVER_LIMITS). */
function serverLimits(heldOver: string | undefined, backupHours: string | undefined) {
  const held = intOption("service", "held-mail-over", heldOver, 0);
  const hours = intOption("service", "backup-max-age", backupHours, 1);
  return { ...(held === undefined ? {} : { heldMailOver: held }), ...(hours === undefined ? {} : { backupMaxAgeHours: hours }) };
}

const SUBCOMMANDS = ["serve", "token", "tokens", "revoke-token", "webhooks", "redeliver", "openapi", "migrate"];

type Flags = Partial<Record<string, string | boolean>> & {
  [K in "caller" | "tenants" | "tenant" | "expires-in-days" | "rate-per-minute"]?: string;
};

/** The subcommands that only read or change the database (tokens, undelivered webhooks). */
async function operatorCommand(pool: Pool, sub: string, arg: string | undefined, f: Flags): Promise<void> {
  const id = () => (arg && /^\d{1,12}$/.test(arg) ? Number(arg) : usageError("service", `${sub} needs a numeric id`));
  switch (sub) {
    case "token": {
      if (!f.caller || !f.tenants) usageError("service", "token needs --caller NAME and --tenants a,b (or '*')");
      const tenants = f.tenants!.trim() === "*" ? "*" : listOption(f.tenants)!;
      const days = intOption("service", "expires-in-days", f["expires-in-days"], 1);
      console.log(
        await createToken(pool, f.caller!, tenants, {
          expiresAt: days ? new Date(Date.now() + days * 86_400_000) : undefined,
          ratePerMinute: intOption("service", "rate-per-minute", f["rate-per-minute"], 1),
        }),
      );
      return;
    }
    case "tokens":
      for (const t of await listTokens(pool, "*", undefined, 100_000)) console.log(JSON.stringify(publicToken(t)));
      return;
    case "revoke-token":
      await revokeToken(pool, id());
      console.log(`token ${id()} revoked`);
      return;
    case "webhooks":
      for (const w of await listUndelivered(pool, f.tenant ? [f.tenant] : "*", undefined, 100_000))
        console.log(
          `${w.id}\t${w.tenant}\t#${w.seq}\t${w.kind}\t${w.attempts} tries\t${w.given_up_at ? "given up" : "retrying"}\t${w.last_error ?? ""}`,
        );
      return;
    case "redeliver":
      await redeliver(pool, id());
      console.log(`webhook ${id()} queued for delivery`);
      return;
  }
}

/** The flags as parsed (each option typed as COMMAND declares it). */
type ServeFlags = ReturnType<typeof parseCommandLine<(typeof COMMAND)["options"]>>["values"];

/** The options `serve` starts the service with, from its flags and environment. */
function serveOptions(f: ServeFlags, databaseUrl: string): ServiceOptions {
  if (!f["config-repo"]) usageError("service", "--config-repo URL is needed (the repository holding stacks/Pulumi.<tenant>.yaml)");
  const listen = /^(.*):(\d+)$/.exec(f.listen ?? "127.0.0.1:8080");
  if (!listen) usageError("service", `--listen must be HOST:PORT (got '${f.listen}')`);
  const ports = listOption(f["smtp-ports"]);
  return {
    databaseUrl,
    configRepo: { remote: f["config-repo"], branch: f.branch ?? "main", dir: f.clones },
    listen: { host: listen[1], port: Number(listen[2]) },
    concurrency: intOption("service", "concurrency", f.concurrency) ?? 4,
    localBackend: f["local-backend"],
    inline: f["no-inline"] !== true,
    webhook: {
      url: f["webhook-url"],
      secret: process.env.PENGUINMAILS_WEBHOOK_SECRET,
      timeoutMs: (intOption("service", "webhook-timeout", f["webhook-timeout"]) ?? 5) * 1000,
    },
    monitorEverySeconds: intOption("service", "monitor-every", f["monitor-every"], 0) ?? 300,
    monitor: {
      resolver: f.resolver ?? getServers()[0] ?? "127.0.0.1",
      blocklists: listOption(f.blocklists) ?? ["zen.spamhaus.org"],
      smtp: f["no-smtp"]
        ? false
        : { ports: ports ? Object.fromEntries(ports.map((p) => p.split("=").map(Number))) : undefined, timeoutMs: 5000 },
      smtpHost: f["smtp-host"],
      domainsEvery: intOption("service", "domains-every", f["domains-every"], 1),
    },
    serverChecks: f["no-server-checks"] ? false : { limits: serverLimits(f["held-mail-over"], f["backup-max-age"]) },
    deadAfterMs: (intOption("service", "dead-after", f["dead-after"]) ?? 30) * 1000,
    webhookConcurrency: intOption("service", "webhook-concurrency", f["webhook-concurrency"], 1),
    retentionDays: intOption("service", "retention-days", f["retention-days"], 1),
    incidents: {
      channels: channelsFrom({
        operatorEmail: f["operator-email"],
        mailRelay: f["mail-relay"],
        mailFrom: f["mail-from"],
        slackUrl: process.env.PENGUINMAILS_SLACK_WEBHOOK_URL,
      }),
      escalateAfterMinutes: intOption("service", "escalate-after", f["escalate-after"], 1) ?? 30,
    },
    credentialKey: credentialKey(process.env.PENGUINMAILS_CREDENTIAL_KEY, (l) => console.error(l)),
    backupRepository: process.env.PENGUINMAILS_BACKUP_REPOSITORY || undefined,
    verification: {
      resolvers: listOption(f.resolvers) ?? (f.resolver ? [f.resolver] : undefined),
      authoritative: listOption(f.authoritative),
      mtaSts: f["no-mta-sts"] ? false : mtaStsTarget(f["mta-sts-host"]),
      // Which zones the token sees (CLOUDFLARE_API_TOKEN, CLOUDFLARE_BASE_URL), as the stacks' provider reads them.
      cloudflare: process.env.CLOUDFLARE_API_TOKEN ? cloudflareSettings(() => undefined) : undefined,
    },
  };
}

/** `serve`: starts the service and stops it on SIGINT/SIGTERM. */
async function serve(f: ServeFlags, databaseUrl: string): Promise<void> {
  const service = await startService(serveOptions(f, databaseUrl));
  if (f["webhook-url"] && !process.env.PENGUINMAILS_WEBHOOK_SECRET)
    console.error("service: --webhook-url without PENGUINMAILS_WEBHOOK_SECRET: webhooks are not sent");
  const stop = (sig: string) => {
    console.log(`service: ${sig}, stopping (running requests finish; queued ones wait for the next start)`);
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

/** `migrate` and the operator commands: apply the migrations, then the command, on a small pool. */
async function oneShot(sub: string, arg: string | undefined, f: Flags, databaseUrl: string): Promise<void> {
  const pool = openPool(databaseUrl, 2);
  try {
    const applied = await migrate(pool);
    if (sub === "migrate") console.log(applied.length ? `applied: ${applied.join(", ")}` : "the schema is up to date");
    else await operatorCommand(pool, sub, arg, f);
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  const { values: f, positionals } = parseCommandLine(COMMAND);
  const sub = positionals[0] ?? "serve";
  const withArg = ["revoke-token", "redeliver"].includes(sub);
  if (positionals.length > (withArg ? 2 : 1) || !SUBCOMMANDS.includes(sub))
    usageError("service", `unknown subcommand '${positionals.join(" ")}'; expected ${SUBCOMMANDS.join(", ")}`);
  if (sub === "openapi") {
    console.log(JSON.stringify(OPENAPI, null, 2));
    return;
  }
  const databaseUrl = f.database ?? process.env.DATABASE_URL;
  if (!databaseUrl) usageError("service", "--database URL (or DATABASE_URL) is needed");
  if (sub !== "serve") return oneShot(sub, positionals[1], f, databaseUrl);
  await serve(f, databaseUrl);
}

if (require.main === module) {
  main().catch((e: Error) => {
    console.error(`service: ${e.message}`);
    process.exit(1);
  });
}
